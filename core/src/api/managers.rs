//! Manager handlers: list, add, delete. Each change keeps the manager index
//! (`m:{bucket}:{email}:{consumer}`) in step, so `manager-email` filters and the portal find
//! a manager's consumers without reading every record.

use super::consumers::managers_from;
use super::{body, Api, Query};
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::model::{ListOut, ManagerOut, NewManager};
use crate::store::Store;

impl<S: Store> Api<'_, S> {
    pub(super) async fn list_managers(
        &self,
        bucket: &str,
        consumer: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q).await?;
        let data = c
            .managers
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(ManagerOut::from)
            .collect();
        Ok(ApiResponse::json(
            200,
            &ListOut {
                data,
                limit: q.limit,
                offset: q.offset,
                total: c.managers.len(),
            },
        ))
    }

    pub(super) async fn add_manager(
        &self,
        bucket: &str,
        consumer: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: NewManager = body(req)?;
        let before = self.guarded_consumer(bucket, consumer, q).await?;
        let added = managers_from(self, vec![(input.email, input.sub)], &[])?.remove(0);
        if before.managers.iter().any(|m| m.email == added.email) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("'{}' already manages consumer '{consumer}'", added.email),
            ));
        }
        let mut after = before.clone();
        after.managers.push(added.clone());
        managers_from(
            self,
            after
                .managers
                .iter()
                .map(|m| (m.email.clone(), m.sub.clone()))
                .collect(),
            &after.managers,
        )?;
        after.updated_on = self.now;
        self.save(bucket, Some(&before), &after).await?;
        Ok(ApiResponse::json(200, &ManagerOut::from(&added)))
    }

    pub(super) async fn delete_manager(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let before = self.guarded_consumer(bucket, consumer, q).await?;
        let mut after = before.clone();
        let pos = after
            .managers
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "manager '{id}' does not manage consumer '{consumer}'"
                ))
            })?;
        after.managers.remove(pos);
        after.updated_on = self.now;
        self.save(bucket, Some(&before), &after).await?;
        Ok(ApiResponse::empty(204))
    }
}

//! Manager handlers: list, add, delete. Each change keeps the manager index
//! (`m:{bucket}:{email}:{consumer}`) in step, so `manager-email` filters and the portal find
//! a manager's consumers without reading every record.

use super::consumers::managers_from;
use super::query::Query;
use super::router::{body, Api};
use crate::api::model::{ManagerOut, NewManager};
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::storage::bucket::sql::Sql;
use crate::storage::store::Store;
use crate::validate;

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    pub(super) fn list_managers(
        &self,
        bucket: &str,
        consumer: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q)?;
        q.page_of(&c.managers, |m| Ok(ManagerOut::from(m)))
    }

    pub(super) fn add_manager(
        &self,
        bucket: &str,
        consumer: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: NewManager = body(req)?;
        let added = managers_from(self, vec![(input.email, input.sub)], &[])?.remove(0);
        self.change_consumer(bucket, consumer, q, |c| {
            if c.managers.iter().any(|m| m.email == added.email) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("'{}' already manages consumer '{consumer}'", added.email),
                ));
            }
            if c.managers.len() >= validate::MAX_MANAGERS {
                return Err(Error::invalid(format!(
                    "at most {} managers per consumer",
                    validate::MAX_MANAGERS
                )));
            }
            c.managers.push(added.clone());
            Ok(())
        })?;
        Ok(ApiResponse::json(200, &ManagerOut::from(&added)))
    }

    pub(super) fn delete_manager(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        self.change_consumer(bucket, consumer, q, |c| {
            let pos = c.managers.iter().position(|m| m.id == id).ok_or_else(|| {
                Error::not_found(format!(
                    "manager '{id}' does not manage consumer '{consumer}'"
                ))
            })?;
            c.managers.remove(pos);
            Ok(())
        })?;
        Ok(ApiResponse::empty(204))
    }
}

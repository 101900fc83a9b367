//! The key rule for other scanners, for one prefix: a gitleaks `[[rules]]` block, a GitHub
//! custom secret-scanning pattern, a trufflehog custom detector and a plain regex.
//!
//! None of them can check the CRC-32 checksum, so each reports look-alikes that
//! `keyward scan` drops; they are for pipelines that already run those tools.

use crate::key::format::{self, BODY_LEN, CHECK_LEN};

/// Which tool a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// A `[[rules]]` block for gitleaks' TOML configuration.
    Gitleaks,
    /// The fields of a GitHub custom pattern (repository or organization settings, Secret
    /// scanning, New pattern).
    Github,
    /// A custom detector for trufflehog's `--config` YAML.
    Trufflehog,
    /// The regular expression alone.
    Regex,
}

impl Tool {
    /// The tool named on the command line (`gitleaks`, `github`, `trufflehog`, `regex`).
    pub fn from_name(name: &str) -> Option<Tool> {
        Some(match name {
            "gitleaks" => Tool::Gitleaks,
            "github" => Tool::Github,
            "trufflehog" => Tool::Trufflehog,
            "regex" => Tool::Regex,
            _ => return None,
        })
    }
}

/// The pattern of keys of `prefix` (a valid prefix: it has no regex metacharacters).
pub fn pattern(prefix: &str) -> String {
    format!("{prefix}_[0-9A-Za-z]{{{BODY_LEN}}}_[0-9A-Za-z]{{{CHECK_LEN}}}")
}

/// The rule for `tool`, keys of `prefix`, as text ending in a newline.
pub fn render(tool: Tool, prefix: &str) -> String {
    let regex = pattern(prefix);
    match tool {
        Tool::Regex => format!("{regex}\n"),
        Tool::Gitleaks => format!(
            "# keyward API keys ({prefix}_…). gitleaks cannot check their CRC-32 checksum:\n\
             # `keyward scan` can, and reports no look-alikes.\n\
             [[rules]]\n\
             id = \"keyward-{prefix}\"\n\
             description = \"keyward API key (prefix {prefix})\"\n\
             regex = '''(?:^|[^0-9A-Za-z_])({regex})(?:[^0-9A-Za-z_]|$)'''\n\
             secretGroup = 1\n\
             entropy = 3.5\n\
             keywords = [\"{prefix}_\"]\n\
             tags = [\"api-key\", \"keyward\"]\n"
        ),
        Tool::Github => {
            let example = example_key(prefix);
            format!(
                "# GitHub: Settings > Code security > Secret scanning > New pattern (More options).\n\
                 Pattern name:     keyward API key ({prefix})\n\
                 Secret format:    {regex}\n\
                 Before secret:    \\A|[^0-9A-Za-z_]\n\
                 After secret:     \\z|[^0-9A-Za-z_]\n\
                 Must match:       _[0-9A-Za-z]{{{CHECK_LEN}}}\\z\n\
                 Test string:      token = \"{example}\"\n"
            )
        }
        Tool::Trufflehog => format!(
            "# trufflehog --config this.yaml (keys whose checksum fails are reported too).\n\
             detectors:\n  \
               - name: keyward-{prefix}\n    \
                 keywords:\n      \
                   - {prefix}_\n    \
                 regex:\n      \
                   key: '{regex}'\n"
        ),
    }
}

/// A key of `prefix` with a valid checksum and an all-zero body: never issued (keyward's
/// bodies are random), so safe to print as a test string.
fn example_key(prefix: &str) -> String {
    let head = format!("{prefix}_{}", "0".repeat(BODY_LEN));
    let check = format::checksum(&head);
    format!("{head}_{check}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn every_rule_names_the_prefix_and_its_pattern_finds_a_key() {
        let example = example_key("acme_live");
        assert!(format::parse(&example).is_ok());
        let re = Regex::new(&pattern("acme_live")).unwrap();
        assert!(re.is_match(&example));
        assert!(!Regex::new(&pattern("kw")).unwrap().is_match(&example));
        for tool in ["gitleaks", "github", "trufflehog", "regex"] {
            let text = render(Tool::from_name(tool).unwrap(), "acme_live");
            assert!(text.contains(&pattern("acme_live")), "{tool}: {text}");
        }
        assert!(Tool::from_name("semgrep").is_none());
    }

    #[test]
    fn the_gitleaks_rule_is_a_toml_rules_block() {
        let text = render(Tool::Gitleaks, "kw");
        expect_test::expect![[r#"
            # keyward API keys (kw_…). gitleaks cannot check their CRC-32 checksum:
            # `keyward scan` can, and reports no look-alikes.
            [[rules]]
            id = "keyward-kw"
            description = "keyward API key (prefix kw)"
            regex = '''(?:^|[^0-9A-Za-z_])(kw_[0-9A-Za-z]{32}_[0-9A-Za-z]{6})(?:[^0-9A-Za-z_]|$)'''
            secretGroup = 1
            entropy = 3.5
            keywords = ["kw_"]
            tags = ["api-key", "keyward"]
        "#]]
        .assert_eq(&text);
    }
}

//! The outcome of the last SIGHUP reload, kept so an operator tool can tell
//! whether the routes it wrote were taken, and if not, why.
//!
//! Served as JSON at `GET /reload` on the listener. Error lines are the
//! loader's `file:line:col: message` text, which names token sources
//! (variables, files) and never their values.

use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

/// What one reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new table is in force with this generation.
    Loaded {
        /// Generation of the table that took effect.
        generation: u64,
    },
    /// The file was refused; the previous table stays in force.
    Refused {
        /// One `file:line:col: message` per problem.
        errors: Vec<String>,
    },
}

/// Reload attempts since start and the latest one's outcome.
#[derive(Debug, Default)]
pub struct ReloadLog {
    inner: Mutex<Option<Attempt>>,
}

#[derive(Debug, Clone)]
struct Attempt {
    number: u64,
    at: SystemTime,
    outcome: Outcome,
}

/// `GET /reload`'s body.
#[derive(Debug, Serialize)]
struct Report {
    generation: u64,
    loaded_at: String,
    attempts: u64,
    last_attempt: Option<LastAttempt>,
}

#[derive(Debug, Serialize)]
struct LastAttempt {
    at: String,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    errors: Vec<String>,
}

impl ReloadLog {
    /// Record a finished attempt (attempts are numbered from 1).
    pub fn record(&self, outcome: Outcome) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let number = guard.as_ref().map_or(0, |a| a.number) + 1;
        *guard = Some(Attempt {
            number,
            at: SystemTime::now(),
            outcome,
        });
    }

    /// The JSON report, given the table in force (`generation`, loaded at `loaded_at`).
    pub fn report(&self, generation: u64, loaded_at: SystemTime) -> String {
        let last = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let report = Report {
            generation,
            loaded_at: rfc3339(loaded_at),
            attempts: last.as_ref().map_or(0, |a| a.number),
            last_attempt: last.map(|a| {
                let (result, generation, errors) = match a.outcome {
                    Outcome::Loaded { generation } => ("ok", Some(generation), Vec::new()),
                    Outcome::Refused { errors } => ("error", None, errors),
                };
                LastAttempt {
                    at: rfc3339(a.at),
                    result,
                    generation,
                    errors,
                }
            }),
        };
        let mut body = serde_json::to_string_pretty(&report).expect("the report serializes");
        body.push('\n');
        body
    }
}

fn rfc3339(t: SystemTime) -> String {
    bottle_common::time::format_rfc3339(time::OffsetDateTime::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_numbered_and_the_last_one_is_reported() {
        let log = ReloadLog::default();
        let now = SystemTime::now();
        let fresh: serde_json::Value = serde_json::from_str(&log.report(1, now)).unwrap();
        assert_eq!(fresh["generation"], 1);
        assert_eq!(fresh["attempts"], 0);
        assert!(fresh["last_attempt"].is_null());

        log.record(Outcome::Loaded { generation: 2 });
        log.record(Outcome::Refused {
            errors: vec!["/r.yaml:3:5: host: bad".into()],
        });
        let v: serde_json::Value = serde_json::from_str(&log.report(2, now)).unwrap();
        assert_eq!(v["generation"], 2);
        assert_eq!(v["attempts"], 2);
        assert_eq!(v["last_attempt"]["result"], "error");
        assert_eq!(v["last_attempt"]["errors"][0], "/r.yaml:3:5: host: bad");
        assert!(v["last_attempt"].get("generation").is_none());
        assert!(v["last_attempt"]["at"].as_str().unwrap().ends_with('Z'));

        log.record(Outcome::Loaded { generation: 3 });
        let v: serde_json::Value = serde_json::from_str(&log.report(3, now)).unwrap();
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["last_attempt"]["result"], "ok");
        assert_eq!(v["last_attempt"]["generation"], 3);
        assert_eq!(v["last_attempt"]["errors"].as_array().unwrap().len(), 0);
    }
}

//! The config's `alerter:` section, in Go2NetSpectra's form, and its
//! `smtp:` section (accepted, not used). Owns parsing and checking the
//! rules against the tasks: an unknown metric, operator or task is a
//! config error naming its key, never a rule that silently never fires.

use crate::flow::TaskKind;
use std::fmt;
use std::time::Duration;

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};

/// Default least time between two notifications of one rule.
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The `alerter:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of alerter settings"
)]
pub struct AlerterConfig {
    /// Evaluate the rules at all. Default: false.
    pub enabled: bool,
    /// Least event time between two notifications of one rule, e.g. `30s`
    /// (or whole seconds). Default: 1m.
    #[serde(deserialize_with = "check_interval")]
    pub check_interval: Duration,
    /// The rules, evaluated on every closed window. Default: none.
    pub rules: Vec<RuleConfig>,
    /// Where each notification is POSTed as JSON (`http://` only). Default:
    /// none, the log only.
    #[serde(deserialize_with = "webhook_url")]
    pub webhook_url: Option<String>,
}

impl Default for AlerterConfig {
    fn default() -> Self {
        AlerterConfig {
            enabled: false,
            check_interval: DEFAULT_CHECK_INTERVAL,
            rules: Vec::new(),
            webhook_url: None,
        }
    }
}

/// One rule: `metric operator threshold` over one task's closed windows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Names the rule in notifications and the `netspectra_alerts_firing` label.
    pub name: String,
    /// The task whose windows are measured.
    pub task_name: String,
    pub metric: Metric,
    pub operator: Operator,
    pub threshold: f64,
}

/// What a rule measures in one window of its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Packets the task counted (exact tasks).
    TotalPackets,
    /// Wire bytes the task counted (exact tasks).
    TotalBytes,
    /// Distinct keys the task holds (exact tasks).
    TotalFlows,
    /// Sketch tasks' metrics: accepted names, refused until sketch tasks exist.
    HeavyHitterCount,
    HeavyHitterSize,
    SuperSpreaderSpread,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::TotalPackets => "total_packets",
            Metric::TotalBytes => "total_bytes",
            Metric::TotalFlows => "total_flows",
            Metric::HeavyHitterCount => "heavy_hitter_count",
            Metric::HeavyHitterSize => "heavy_hitter_size",
            Metric::SuperSpreaderSpread => "super_spreader_spread",
        }
    }

    /// Whether an exact task has this metric.
    pub fn of_exact_tasks(self) -> bool {
        matches!(
            self,
            Metric::TotalPackets | Metric::TotalBytes | Metric::TotalFlows
        )
    }

    /// Whether a task of `kind` has this metric: the totals every task has
    /// (for a sketch task `total_flows` is the keys its report holds); the
    /// heavy-hitter metrics a heavy-hitter task; the spread a super-spreader task.
    pub fn applies_to(self, kind: TaskKind) -> bool {
        match self {
            Metric::TotalPackets | Metric::TotalBytes | Metric::TotalFlows => true,
            Metric::HeavyHitterCount | Metric::HeavyHitterSize => {
                matches!(kind, TaskKind::HeavyHitters(_))
            }
            Metric::SuperSpreaderSpread => matches!(kind, TaskKind::SuperSpread(_)),
        }
    }
}

/// How a rule compares its metric with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Greater,
    Less,
    Equal,
    GreaterOrEqual,
    LessOrEqual,
}

impl Operator {
    /// `value OP threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Greater => value > threshold,
            Operator::Less => value < threshold,
            Operator::Equal => value == threshold,
            Operator::GreaterOrEqual => value >= threshold,
            Operator::LessOrEqual => value <= threshold,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operator::Greater => ">",
            Operator::Less => "<",
            Operator::Equal => "=",
            Operator::GreaterOrEqual => ">=",
            Operator::LessOrEqual => "<=",
        })
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Operator, D::Error> {
        parse_str(deserializer, "one of >, <, =, >=, <=", |text| {
            Ok(match text {
                ">" => Operator::Greater,
                "<" => Operator::Less,
                "=" => Operator::Equal,
                ">=" => Operator::GreaterOrEqual,
                "<=" => Operator::LessOrEqual,
                _ => {
                    return Err(format!(
                        "unknown operator {text:?} (want >, <, =, >= or <=)"
                    ));
                }
            })
        })
    }
}

/// The `smtp:` section: accepted in any form and not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpSection;

impl<'de> Deserialize<'de> for SmtpSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SmtpSection, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(SmtpSection)
    }
}

/// Raised inside the visitor, so serde_yaml stamps the error with the
/// key path and line.
fn check_interval<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct Interval;
    impl de::Visitor<'_> for Interval {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as 30s or 5m, or whole seconds")
        }

        fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(seconds))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            humantime::parse_duration(text.trim()).map_err(|error| {
                E::custom(format!(
                    "{text:?} is not a duration ({error}); want e.g. 30s, 5m or whole seconds"
                ))
            })
        }
    }
    deserializer.deserialize_any(Interval)
}

fn webhook_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    parse_str(deserializer, "an http:// URL", |url| {
        if url.starts_with("http://") {
            Ok(Some(url.to_string()))
        } else {
            Err(format!(
                "{url:?}: want an http:// URL (https is not built in)"
            ))
        }
    })
}

/// A string value through `parse`, whose error is raised inside the
/// visitor so that serde_yaml stamps it with the key path and line.
fn parse_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Text<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> de::Visitor<'_> for Text<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Text { expecting, parse })
}

/// Every problem of an enabled alerter's rules against the tasks (name and
/// kind), each naming its key: an unknown task, a metric the task's kind does not
/// have, a repeated name.
pub fn check_rules(alerter: &AlerterConfig, tasks: &[(&str, TaskKind)]) -> Vec<String> {
    let mut problems = Vec::new();
    if !alerter.enabled {
        // A disabled alerter's rules are never evaluated; their tasks may
        // belong to a section `aggregator.types` leaves out.
        return problems;
    }
    for (index, rule) in alerter.rules.iter().enumerate() {
        let key = format!("alerter.rules[{index}]");
        if alerter.rules[..index]
            .iter()
            .any(|earlier| earlier.name == rule.name)
        {
            problems.push(format!("{key}.name: duplicate rule name {:?}", rule.name));
        }
        let task = rule.task_name.as_str();
        match tasks.iter().find(|(name, _)| *name == task) {
            None => {
                let names: Vec<&str> = tasks.iter().map(|(name, _)| *name).collect();
                problems.push(format!(
                    "{key}.task_name: no task {task:?} (tasks: {})",
                    names.join(", ")
                ));
            }
            Some((_, kind)) if !rule.metric.applies_to(*kind) => {
                let want = if matches!(kind, TaskKind::HeavyHitters(_)) {
                    "total_packets, total_bytes, total_flows, heavy_hitter_count or heavy_hitter_size"
                } else if matches!(kind, TaskKind::SuperSpread(_)) {
                    "total_packets, total_bytes, total_flows or super_spreader_spread"
                } else {
                    "total_packets, total_bytes or total_flows"
                };
                problems.push(format!(
                    "{key}.metric: task {task:?} is of kind {} and has no metric {} (want {want})",
                    kind.name(),
                    rule.metric.name(),
                ));
            }
            Some(_) => {}
        }
        if !rule.threshold.is_finite() {
            problems.push(format!("{key}.threshold: not a finite number"));
        }
    }
    problems
}

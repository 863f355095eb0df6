//! Sketch task entries: Go2NetSpectra's sketch-task keys (`skt_type`,
//! `flow_fields`, `element_fields`, `width`, `depth`, `size_thereshold`,
//! `count_thereshold`, `m`, `size`, `base`, `b`) plus netspectra's `seed`,
//! resolved into a [`TaskKind::HeavyHitters`] or [`TaskKind::SuperSpread`]
//! with its parameters.
//!
//! Owns one entry's schema, defaults and checks, for both places a sketch
//! task is written: netspectra's `aggregator.sketch_tasks` and the HEAD
//! layout's `aggregator.sketch.tasks`. Never decides which tasks run and
//! never counts anything (`flow::sketch` does).

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::flow::sketch::{
    DEFAULT_SEED, HEAVY_DEFAULT_BYTE_THRESHOLD, HEAVY_DEFAULT_DEPTH,
    HEAVY_DEFAULT_PACKET_THRESHOLD, HEAVY_DEFAULT_WIDTH, HeavyHitterParams, MAX_DEPTH,
    MAX_REGISTERS, MAX_SKETCH_BYTES, MAX_WIDTH, MIN_REGISTERS, SPREAD_DEFAULT_DEPTH,
    SPREAD_DEFAULT_REGISTERS, SPREAD_DEFAULT_THRESHOLD, SPREAD_DEFAULT_WIDTH, SpreadParams,
};
use crate::flow::{KeyField, KeySchema, TaskKind};

use super::{
    Checked, Doc, KeyFieldList, KeyPath, Problem, Ranged, Step, optional, parse_whole_key_term,
};

/// One sketch task, resolved: every default filled in, every value checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SketchTaskConfig {
    /// Unique among all tasks, exact and sketch; the rules of an exact
    /// task's name (it becomes a directory name).
    pub name: String,
    /// `flow_fields`: the key the task reports, in file order.
    pub flow_fields: Vec<KeyField>,
    /// `flow_fields` as a bit set.
    pub schema: KeySchema,
    /// [`TaskKind::HeavyHitters`] (`skt_type: 0`) or
    /// [`TaskKind::SuperSpread`] (`skt_type: 1`), never `Exact`.
    pub kind: TaskKind,
}

/// A sketch task as written. A value of 0, `null` (an empty `${VAR}`) or
/// a left-out key all mean the default, as in Go2NetSpectra.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a sketch task: a mapping with `name`, `skt_type` and `flow_fields`"
)]
pub(super) struct RawSketchTask {
    #[serde(deserialize_with = "super::task_name")]
    name: String,
    #[serde(default, deserialize_with = "skt_type")]
    skt_type: Option<SketchType>,
    #[serde(deserialize_with = "flow_fields")]
    flow_fields: Vec<KeyField>,
    #[serde(default, deserialize_with = "element_fields")]
    element_fields: Option<Vec<KeyField>>,
    #[serde(default, deserialize_with = "width")]
    width: Option<u32>,
    #[serde(default, deserialize_with = "depth")]
    depth: Option<u32>,
    #[serde(default)]
    size_thereshold: Option<u64>,
    #[serde(default)]
    size_threshold: Option<u64>,
    #[serde(default)]
    count_thereshold: Option<u64>,
    #[serde(default)]
    count_threshold: Option<u64>,
    #[serde(default, deserialize_with = "registers")]
    m: Option<u32>,
    #[serde(default)]
    size: Option<u32>,
    #[serde(default)]
    base: Option<f64>,
    #[serde(default)]
    b: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
}

/// `skt_type`, Go2NetSpectra's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SketchType {
    /// 0: Count-Min heavy hitters.
    HeavyHitters,
    /// 1: distinct elements per key.
    SuperSpread,
}

/// Resolves the entries of the list at `list` (`aggregator.sketch_tasks`
/// or `aggregator.sketch.tasks`), in order. Logs once, for all of them,
/// that `size`, `base` and `b` are ignored, and per entry each key its
/// type does not use.
pub(super) fn resolve_all(
    entries: Vec<RawSketchTask>,
    list: &[Step<'static>],
    doc: &Doc<'_>,
) -> Result<Vec<SketchTaskConfig>, Vec<Problem>> {
    let with_register_keys: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(_, raw)| raw.size.is_some() || raw.base.is_some() || raw.b.is_some())
        .map(|(index, _)| super::path_text(&entry_path(list, index)))
        .collect();
    if !with_register_keys.is_empty() {
        log::info!(
            "size, base and b of {} are Go2NetSpectra's register parameters; netspectra ignores them \
             (its super-spreader sketch is sized by width, depth and m)",
            with_register_keys.join(", ")
        );
    }
    let mut tasks = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in entries.into_iter().enumerate() {
        match raw.resolve(&entry_path(list, index), doc) {
            Ok(task) => tasks.push(task),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(tasks)
    } else {
        Err(problems)
    }
}

/// The key path of entry `index` of the list at `list`.
pub(super) fn entry_path(list: &[Step<'static>], index: usize) -> KeyPath {
    let mut path = list.to_vec();
    path.push(Step::Index(index));
    path
}

/// A sketch entry's thresholds, each from whichever spelling was given;
/// `None` for 0 or missing.
struct Thresholds {
    count: Option<u64>,
    size: Option<u64>,
}

impl RawSketchTask {
    fn resolve(
        self,
        at: &[Step<'static>],
        doc: &Doc<'_>,
    ) -> Result<SketchTaskConfig, Vec<Problem>> {
        let (thresholds, mut problems) = self.thresholds(at, doc);
        let (kind, state_bytes) = match self.skt_type.unwrap_or(SketchType::HeavyHitters) {
            SketchType::HeavyHitters => {
                let params = self.heavy_hitters(at, &thresholds);
                (TaskKind::HeavyHitters(params), params.sketch_bytes())
            }
            SketchType::SuperSpread => {
                let (params, found) = self.super_spread(at, &thresholds, doc);
                problems.extend(found);
                (TaskKind::SuperSpread(params), params.sketch_bytes())
            }
        };
        if state_bytes > MAX_SKETCH_BYTES {
            problems.push(Problem {
                at: at.to_vec(),
                message: format!(
                    "width, depth and m ask for {state_bytes} bytes of sketch state; at most {MAX_SKETCH_BYTES}"
                ),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(SketchTaskConfig {
            schema: KeySchema::from_fields(&self.flow_fields),
            name: self.name,
            flow_fields: self.flow_fields,
            kind,
        })
    }

    /// Both thresholds; giving both spellings of one is a problem.
    fn thresholds(&self, at: &[Step<'static>], doc: &Doc<'_>) -> (Thresholds, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut spelling = |wrong: Option<u64>, right: Option<u64>, keys: [&'static str; 2]| {
            if wrong.is_some() && right.is_some() {
                problems.push(Problem {
                    message: format!(
                        "the same setting as {}{}; give one of the two spellings",
                        keys[0],
                        doc.at_line(&key(at, keys[0]))
                    ),
                    at: key(at, keys[1]),
                });
            }
            right.or(wrong).filter(|value| *value != 0)
        };
        let thresholds = Thresholds {
            size: spelling(
                self.size_thereshold,
                self.size_threshold,
                ["size_thereshold", "size_threshold"],
            ),
            count: spelling(
                self.count_thereshold,
                self.count_threshold,
                ["count_thereshold", "count_threshold"],
            ),
        };
        (thresholds, problems)
    }

    /// `skt_type: 0`; warns about the keys only type 1 uses.
    fn heavy_hitters(&self, at: &[Step<'static>], thresholds: &Thresholds) -> HeavyHitterParams {
        if self.element_fields.is_some() {
            ignored(
                at,
                "element_fields",
                "a heavy-hitter task (skt_type 0) counts packets and bytes per flow_fields key",
            );
        }
        if self.m.is_some() {
            ignored(
                at,
                "m",
                "registers are a super-spreader (skt_type 1) setting",
            );
        }
        HeavyHitterParams {
            width: self.width.unwrap_or(HEAVY_DEFAULT_WIDTH),
            depth: self.depth.unwrap_or(HEAVY_DEFAULT_DEPTH),
            packet_threshold: thresholds.count.unwrap_or(HEAVY_DEFAULT_PACKET_THRESHOLD),
            byte_threshold: thresholds.size.unwrap_or(HEAVY_DEFAULT_BYTE_THRESHOLD),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
        }
    }

    /// `skt_type: 1`, which needs `element_fields` apart from `flow_fields`.
    fn super_spread(
        &self,
        at: &[Step<'static>],
        thresholds: &Thresholds,
        doc: &Doc<'_>,
    ) -> (SpreadParams, Vec<Problem>) {
        if thresholds.size.is_some() {
            ignored(
                at,
                "size_threshold",
                "a super-spreader task (skt_type 1) reports by count_threshold only",
            );
        }
        let element = self.element_fields.clone().unwrap_or_default();
        let mut problems = Vec::new();
        if element.is_empty() {
            problems.push(Problem {
                at: doc.first_present(vec![key(at, "element_fields")], at),
                message: "a super-spreader task (skt_type 1) needs element_fields: \
                          what is counted distinct per flow_fields key, e.g. [DstIP]"
                    .to_string(),
            });
        } else if let Some(shared) = element.iter().find(|f| self.flow_fields.contains(f)) {
            problems.push(Problem {
                at: key(at, "element_fields"),
                message: format!(
                    "{} is in flow_fields too; every key would have a spread of 1",
                    shared.config_name()
                ),
            });
        }
        let params = SpreadParams {
            element: KeySchema::from_fields(&element),
            width: self.width.unwrap_or(SPREAD_DEFAULT_WIDTH),
            depth: self.depth.unwrap_or(SPREAD_DEFAULT_DEPTH),
            registers: self.m.unwrap_or(SPREAD_DEFAULT_REGISTERS),
            threshold: thresholds.count.unwrap_or(SPREAD_DEFAULT_THRESHOLD),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
        };
        (params, problems)
    }
}

/// The path of `name` in the entry at `at`.
fn key(at: &[Step<'static>], name: &'static str) -> KeyPath {
    let mut path = at.to_vec();
    path.push(Step::Key(name));
    path
}

/// Warns that `name` of the entry at `at` is ignored, and `why`.
fn ignored(at: &[Step<'static>], name: &str, why: &str) {
    log::warn!("{}.{name}: ignored; {why}", super::path_text(at));
}

fn skt_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SketchType>, D::Error> {
    optional(
        deserializer,
        Checked {
            expecting: "0 (heavy hitters) or 1 (super-spreader)",
            check: |value| match value {
                0 => Ok(SketchType::HeavyHitters),
                1 => Ok(SketchType::SuperSpread),
                other => Err(format!(
                    "skt_type {other} is unknown; 0 is heavy hitters (Count-Min), 1 is super-spreader"
                )),
            },
        },
    )
}

fn flow_fields<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<KeyField>, D::Error> {
    deserializer
        .deserialize_seq(KeyFieldList {
            key: "flow_fields",
            parse: parse_whole_key_term,
        })
        .map(|terms| terms.into_iter().map(|(field, _)| field).collect())
}

fn element_fields<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<KeyField>>, D::Error> {
    optional(deserializer, ElementFields)
}

/// `element_fields` inside `optional`, which needs a seed.
struct ElementFields;

impl<'de> de::DeserializeSeed<'de> for ElementFields {
    type Value = Vec<KeyField>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<KeyField>, D::Error> {
        deserializer
            .deserialize_seq(KeyFieldList {
                key: "element_fields",
                parse: parse_whole_key_term,
            })
            .map(|terms| terms.into_iter().map(|(field, _)| field).collect())
    }
}

/// 0 (the default) or `1..=max`; `None` for 0 and null.
fn sized<'de, D: Deserializer<'de>>(deserializer: D, max: u32) -> Result<Option<u32>, D::Error> {
    let value = optional(
        deserializer,
        Ranged {
            min: 0,
            max: u64::from(max),
        },
    )?;
    Ok(value
        .and_then(|value| u32::try_from(value).ok())
        .filter(|value| *value != 0))
}

fn width<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    sized(deserializer, MAX_WIDTH)
}

fn depth<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    sized(deserializer, MAX_DEPTH)
}

fn registers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = optional(
        deserializer,
        Checked {
            expecting: "a power of two",
            check: |value| match u32::try_from(value) {
                Ok(0) => Ok(None),
                Ok(m) if m.is_power_of_two() && (MIN_REGISTERS..=MAX_REGISTERS).contains(&m) => {
                    Ok(Some(m))
                }
                _ => Err(format!(
                    "m {value} must be a power of two from {MIN_REGISTERS} to {MAX_REGISTERS} (or 0 for the default {SPREAD_DEFAULT_REGISTERS})"
                )),
            },
        },
    )?;
    Ok(value.flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{check_refused, load};
    use crate::flow::TaskSpec;

    /// `aggregator.sketch_tasks` with one entry per line of `tasks`, each an
    /// inline mapping; the six default exact tasks run beside them.
    fn sketch_yaml(tasks: &[&str]) -> String {
        let mut yaml = String::from("aggregator:\n  sketch_tasks:\n");
        for task in tasks {
            yaml.push_str(&format!("    - {task}\n"));
        }
        yaml
    }

    /// The kind of the one sketch task of `tasks`.
    #[track_caller]
    fn kind(task: &str) -> TaskKind {
        let config = load(&sketch_yaml(&[task]), &[]).expect("valid sketch task");
        assert_eq!(config.aggregator.sketch_tasks.len(), 1);
        config.aggregator.sketch_tasks[0].kind
    }

    #[test]
    fn a_heavy_hitter_task_takes_go2netspectras_defaults_for_zero_or_missing_values() {
        let defaults = TaskKind::HeavyHitters(HeavyHitterParams {
            width: 1_048_576,
            depth: 3,
            packet_threshold: 512,
            byte_threshold: 524_288,
            seed: DEFAULT_SEED,
        });
        assert_eq!(kind("{name: hh, flow_fields: [SrcIP]}"), defaults);
        assert_eq!(
            kind(
                "{name: hh, skt_type: 0, flow_fields: [SrcIP], width: 0, depth: 0, \
                 size_thereshold: 0, count_thereshold: 0}"
            ),
            defaults
        );
        // An empty `${VAR}` leaves a key without a value: the default too.
        let empty = "aggregator:\n  sketch_tasks:\n    - name: hh\n      flow_fields: [SrcIP]\n      width: ${W}\n      depth:\n";
        let config = load(empty, &[]).expect("null values are defaults");
        assert_eq!(config.aggregator.sketch_tasks[0].kind, defaults);
    }

    #[test]
    fn a_super_spreader_task_takes_its_defaults_for_zero_or_missing_values() {
        let want = TaskKind::SuperSpread(SpreadParams {
            element: KeySchema::from_fields(&[KeyField::DstIp]),
            width: SPREAD_DEFAULT_WIDTH,
            depth: SPREAD_DEFAULT_DEPTH,
            registers: 128,
            threshold: 4096,
            seed: DEFAULT_SEED,
        });
        assert_eq!(
            kind("{name: ss, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP], m: 0}"),
            want
        );
    }

    #[test]
    fn every_sketch_key_is_read_in_either_spelling() {
        let heavy = kind(
            "{name: hh, skt_type: 0, flow_fields: [SrcIP, DstIP], width: 32768, depth: 2, \
             size_threshold: 1000000, count_thereshold: 100, seed: 7}",
        );
        assert_eq!(
            heavy,
            TaskKind::HeavyHitters(HeavyHitterParams {
                width: 32768,
                depth: 2,
                packet_threshold: 100,
                byte_threshold: 1_000_000,
                seed: 7,
            })
        );
        let spread = kind(
            "{name: ss, skt_type: 1, flow_fields: [dstip], element_fields: [SrcIP, SrcPort], \
             width: 1024, depth: 4, count_threshold: 50, m: 64, size: 3, base: 1.08, b: 2, seed: 9}",
        );
        assert_eq!(
            spread,
            TaskKind::SuperSpread(SpreadParams {
                element: KeySchema::from_fields(&[KeyField::SrcIp, KeyField::SrcPort]),
                width: 1024,
                depth: 4,
                registers: 64,
                threshold: 50,
                seed: 9,
            })
        );
    }

    #[test]
    fn task_specs_list_exact_tasks_then_sketch_tasks_without_a_key_limit() {
        let yaml = "aggregator:\n  exact_tasks:\n    - {name: e, key_fields: [SrcIP], max_keys: 10}\n  sketch_tasks:\n    - {name: hh, flow_fields: [DstIP, DstPort]}\n    - {name: ss, skt_type: 1, flow_fields: [DstIP], element_fields: [SrcIP]}\n";
        let config = load(yaml, &[]).expect("valid");
        let specs: Vec<TaskSpec> = config.aggregator.task_specs(Some(99));
        let summary: Vec<(String, &str, String, Option<u64>)> = specs
            .iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    spec.kind.name(),
                    spec.schema.to_string(),
                    spec.max_keys,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("e".to_string(), "exact", "[SrcIP]".to_string(), Some(10)),
                (
                    "hh".to_string(),
                    "heavy_hitters",
                    "[DstIP, DstPort]".to_string(),
                    None
                ),
                (
                    "ss".to_string(),
                    "super_spreader",
                    "[DstIP]".to_string(),
                    None
                ),
            ]
        );
        assert!(
            config.aggregator.sketch_tasks[0].flow_fields == [KeyField::DstIp, KeyField::DstPort]
        );
    }

    #[test]
    fn both_spellings_of_a_threshold_are_refused_naming_both_lines() {
        let yaml = "aggregator:\n  sketch_tasks:\n    - name: hh\n      flow_fields: [SrcIP]\n      count_thereshold: 10\n      count_threshold: 10\n";
        check_refused(
            yaml,
            "aggregator.sketch_tasks[0].count_threshold: the same setting as count_thereshold at line 5",
            6,
            "give one of the two spellings",
        );
        check_refused(
            &sketch_yaml(&[
                "{name: hh, flow_fields: [SrcIP], size_thereshold: 1, size_threshold: 0}",
            ]),
            "aggregator.sketch_tasks[0].size_threshold",
            3,
            "the same setting as size_thereshold",
        );
    }

    #[test]
    fn an_unknown_skt_type_is_refused_with_its_line() {
        check_refused(
            &sketch_yaml(&["{name: x, skt_type: 2, flow_fields: [SrcIP]}"]),
            "aggregator.sketch_tasks[0].skt_type",
            3,
            "skt_type 2 is unknown; 0 is heavy hitters (Count-Min), 1 is super-spreader",
        );
        check_refused(
            &sketch_yaml(&["{name: x, skt_type: countmin, flow_fields: [SrcIP]}"]),
            "aggregator.sketch_tasks[0].skt_type",
            3,
            "expected 0 (heavy hitters) or 1 (super-spreader)",
        );
    }

    #[test]
    fn width_depth_and_m_out_of_range_are_refused_naming_key_and_line() {
        let cases = [
            (
                "width: 16777217",
                "width",
                "16777217 is out of range; expected 0 to 16777216",
            ),
            ("depth: 17", "depth", "17 is out of range; expected 0 to 16"),
            ("depth: -1", "depth", "-1 is out of range"),
            (
                "m: 100",
                "m",
                "m 100 must be a power of two from 16 to 65536",
            ),
            ("m: 8", "m", "m 8 must be a power of two"),
            ("m: 131072", "m", "m 131072 must be a power of two"),
            ("count_threshold: lots", "count_threshold", "invalid type"),
        ];
        for (setting, key, what) in cases {
            let yaml = format!(
                "aggregator:\n  sketch_tasks:\n    - name: x\n      skt_type: 1\n      flow_fields: [SrcIP]\n      element_fields: [DstIP]\n      {setting}\n"
            );
            check_refused(&yaml, &format!("aggregator.sketch_tasks[0].{key}"), 7, what);
        }
    }

    #[test]
    fn a_sketch_over_four_gib_is_refused() {
        check_refused(
            &sketch_yaml(&[
                "{name: x, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP], width: 16777216, depth: 16, m: 65536}",
            ]),
            "aggregator.sketch_tasks[0]",
            3,
            "bytes of sketch state; at most 4294967296",
        );
        kind("{name: x, flow_fields: [SrcIP], width: 16777216, depth: 16}");
    }

    #[test]
    fn a_super_spreader_needs_element_fields_apart_from_its_flow_fields() {
        check_refused(
            &sketch_yaml(&["{name: x, skt_type: 1, flow_fields: [SrcIP]}"]),
            "aggregator.sketch_tasks[0]",
            3,
            "a super-spreader task (skt_type 1) needs element_fields",
        );
        check_refused(
            &sketch_yaml(&[
                "{name: x, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP, SrcIP]}",
            ]),
            "aggregator.sketch_tasks[0].element_fields",
            3,
            "SrcIP is in flow_fields too",
        );
        check_refused(
            &sketch_yaml(&["{name: x, skt_type: 1, flow_fields: [SrcIP], element_fields: []}"]),
            "aggregator.sketch_tasks[0].element_fields",
            3,
            "element_fields is empty",
        );
        let from_env = "aggregator:\n  sketch_tasks:\n    - name: x\n      skt_type: 1\n      flow_fields: [SrcIP]\n      element_fields: ${ELEMENT}\n";
        let message = load(from_env, &[]).expect_err("an empty element_fields is refused");
        assert!(
            message.contains("aggregator.sketch_tasks[0].element_fields: a super-spreader task")
                && message.contains("at line 6; ${ELEMENT} on line 6 is unset or empty"),
            "{message}"
        );
    }

    #[test]
    fn keys_a_task_type_does_not_use_are_accepted_and_ignored() {
        let heavy = kind("{name: hh, flow_fields: [SrcIP], element_fields: [DstIP], m: 64}");
        assert!(matches!(heavy, TaskKind::HeavyHitters(_)));
        let spread = kind(
            "{name: ss, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP], size_threshold: 5}",
        );
        assert!(matches!(spread, TaskKind::SuperSpread(p) if p.threshold == 4096));
    }

    #[test]
    fn flow_fields_are_required_and_checked_like_key_fields() {
        check_refused(
            &sketch_yaml(&["{name: x}"]),
            "aggregator.sketch_tasks[0]",
            3,
            "missing field `flow_fields`",
        );
        check_refused(
            &sketch_yaml(&["{name: x, flow_fields: []}"]),
            "aggregator.sketch_tasks[0].flow_fields",
            3,
            "flow_fields is empty",
        );
        check_refused(
            &sketch_yaml(&["{name: x, flow_fields: [SrcMac]}"]),
            "aggregator.sketch_tasks[0].flow_fields[0]",
            3,
            "unknown key field \"SrcMac\"",
        );
        check_refused(
            &sketch_yaml(&["{name: x, flow_fields: [SrcIP], widht: 4}"]),
            "aggregator.sketch_tasks[0]",
            3,
            "unknown field `widht`",
        );
        check_refused(
            &sketch_yaml(&["{name: \"a/b\", flow_fields: [SrcIP]}"]),
            "aggregator.sketch_tasks[0].name",
            3,
            "contains '/'",
        );
    }

    #[test]
    fn task_names_are_unique_across_exact_and_sketch_tasks() {
        let yaml = "aggregator:\n  exact_tasks:\n    - {name: talkers, key_fields: [SrcIP]}\n  sketch_tasks:\n    - {name: Talkers, flow_fields: [SrcIP]}\n";
        assert_eq!(
            load(yaml, &[]).expect_err("duplicate"),
            "test.yaml: aggregator.sketch_tasks[0].name: duplicate task name \"Talkers\" at line 5, \
             already used by aggregator.exact_tasks[0] at line 3"
        );
        assert_eq!(
            load(
                &sketch_yaml(&["{name: per_src_ip, flow_fields: [SrcIP]}"]),
                &[]
            )
            .expect_err("duplicate of a default task"),
            "test.yaml: aggregator.sketch_tasks[0].name: duplicate task name \"per_src_ip\" at line 3, \
             already used by aggregator.exact_tasks[0] (a default task: the file leaves \
             aggregator.exact_tasks out)"
        );
    }
}

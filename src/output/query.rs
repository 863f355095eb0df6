//! What `inspect` selects beyond a task: a time range of windows
//! (`--from`/`--to`), a row filter (`--where`) and a regrouping
//! (`--group-by`), and whether each applies to a table.
//!
//! The filter picks stored rows first, then the groups sum what it kept,
//! as nfdump filters flows before it aggregates them. A task that lacks a
//! field the query names is an error when it was asked for with `--task`;
//! otherwise its tables are left out, and only when no task fits is it an
//! error, naming the fields and the tasks.

use super::filter::{Field, Filter};
use super::group::GroupBy;
use super::inspect::{Counters, Table};
use super::time_bound::TimeBound;
use crate::flow::KeyField;

/// The selection flags of `inspect`; the default selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Windows ending after this instant.
    pub from: Option<TimeBound>,
    /// Windows starting before this instant.
    pub to: Option<TimeBound>,
    pub filter: Option<Filter>,
    pub group_by: Option<GroupBy>,
}

impl Query {
    /// Why the query cannot apply to `table`'s task, or `None` when it can.
    /// A table of quiet windows only (no key fields, no rows) always can.
    pub fn unfit(&self, table: &Table) -> Option<String> {
        if table.schema.fields().next().is_none() && table.rows.is_empty() {
            return None;
        }
        let task = &table.task;
        if let Some(group) = &self.group_by {
            if !matches!(table.counters, Counters::Exact | Counters::Conversation) {
                return Some(format!(
                    "--group-by: task {task} is a sketch task; regrouping needs an exact task"
                ));
            }
            if let Some((field, wanted, kept)) = group.finer_than(table.schema) {
                return Some(format!(
                    "--group-by: task {task} stores {} as {}{kept}, so it cannot be cut to {}{wanted}",
                    field.column_name(),
                    field.column_name(),
                    field.column_name()
                ));
            }
            if let Some(field) = group
                .key_fields()
                .find(|field| !table.schema.contains(*field))
            {
                return Some(missing_key(task, table, "--group-by", field));
            }
        }
        let fields = self.filter.as_ref().map(Filter::fields).unwrap_or_default();
        for field in fields {
            match field {
                Field::Key(key) if !table.schema.contains(key) => {
                    return Some(missing_key(task, table, "--where", key));
                }
                Field::Key(_) => {}
                Field::Packets | Field::Bytes if table.counters == Counters::HeavyHitters => {}
                counter if table.counters != Counters::Exact => {
                    return Some(format!(
                        "--where: task {task} is a sketch task and keeps no {} per key",
                        counter.name()
                    ));
                }
                _ => {}
            }
        }
        None
    }
}

fn missing_key(task: &str, table: &Table, flag: &str, field: KeyField) -> String {
    let has: Vec<&str> = table.schema.fields().map(KeyField::column_name).collect();
    format!(
        "{flag}: task {task} does not key on {} (its key: {})",
        field.column_name(),
        has.join(", ")
    )
}

//! Reading a Parquet tree back with the parquet crate, the way a
//! reader that knows nothing of netspectra would: every file under
//! `<root>/task=<name>/date=<day>/`, keyed like `traffic::expected_tables`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::traffic::Table;

/// Every file name under `dir`, at any depth, relative to it, sorted.
pub fn all_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("readable directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("below dir");
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// The flows files of `root`, with their task (from `task=<name>`).
pub fn flow_files(root: &Path) -> Vec<(String, PathBuf)> {
    all_files(root)
        .into_iter()
        .filter(|name| name.starts_with("task=") && name.ends_with(".parquet"))
        .map(|name| {
            let task = name["task=".len()..]
                .split('/')
                .next()
                .expect("a task directory")
                .to_string();
            (task, root.join(name))
        })
        .collect()
}

/// Every batch of one file.
pub fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|error| panic!("{}: not Parquet: {error}", path.display()))
        .build()
        .expect("a reader")
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Packets and bytes per task and key over every flows file, keys as in
/// `expected_tables` (the `other` rows under the key `other`).
pub fn parquet_tables(root: &Path) -> BTreeMap<String, Table> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for (task, path) in flow_files(root) {
        let table = tables.entry(task).or_default();
        for batch in read_batches(&path) {
            for row in 0..batch.num_rows() {
                let counts = (
                    column_u64(&batch, "packets", row),
                    column_u64(&batch, "bytes", row),
                );
                let entry = table.entry(row_key(&batch, row)).or_default();
                entry.0 += counts.0;
                entry.1 += counts.1;
            }
        }
    }
    tables
}

/// The text values of a string column (null as `None`).
pub fn text_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).expect("column present");
    column
        .as_string::<i32>()
        .iter()
        .map(|value| value.map(str::to_string))
        .collect()
}

fn column_u64(batch: &RecordBatch, name: &str, row: usize) -> u64 {
    let column = batch.column_by_name(name).expect("column present");
    column.as_primitive::<UInt64Type>().value(row)
}

/// The row's key fields that are not null, joined with `|`.
fn row_key(batch: &RecordBatch, row: usize) -> String {
    let other = batch.column_by_name("other").expect("other").as_boolean();
    if other.value(row) {
        return "other".into();
    }
    let mut fields = Vec::new();
    for name in ["src_ip", "dst_ip"] {
        let column = batch.column_by_name(name).expect("address column");
        if column.is_valid(row) {
            fields.push(column.as_string::<i32>().value(row).to_string());
        }
    }
    for name in ["src_port", "dst_port"] {
        let column = batch.column_by_name(name).expect("port column");
        if column.is_valid(row) {
            fields.push(column.as_primitive::<UInt16Type>().value(row).to_string());
        }
    }
    let protocol = batch.column_by_name("protocol").expect("protocol column");
    if protocol.is_valid(row) {
        fields.push(protocol.as_primitive::<UInt8Type>().value(row).to_string());
    }
    fields.join("|")
}

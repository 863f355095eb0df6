"""DuckDB's view of a netspectra Parquet tree, for tests/parquet.rs.

Usage: python parquet_duckdb.py DIR README
DIR holds the tree as `pq/` and a `hosts.csv`; the README's "Query with
DuckDB" queries are run there as written. Prints one JSON object:
per task the sums and the ten keys with the most bytes, the hive
partition values, and the row count of every README query.
"""

import json
import os
import re
import sys

import duckdb

FLOWS = "read_parquet('pq/task=*/*/*.parquet', hive_partitioning = true)"
# The key as tests/support/traffic.rs spells it: the keyed fields, `|` between.
KEY = "concat_ws('|', src_ip, dst_ip, src_port, dst_port, protocol)"


def readme_queries(readme):
    text = open(readme, encoding="utf-8").read()
    section = text.split("## Query with DuckDB", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    queries = []
    for block in blocks:
        queries += [q.strip() for q in block.split(";") if q.strip()]
    return queries


def main():
    directory, readme = sys.argv[1], sys.argv[2]
    os.chdir(directory)
    db = duckdb.connect()
    tasks = {}
    rows = lambda sql: db.execute(sql).fetchall()
    names = [row[0] for row in rows(f"SELECT DISTINCT task FROM {FLOWS}")]
    for task in names:
        where = f"task = '{task}' AND NOT other"
        [(packets, bytes_)] = rows(
            f"SELECT sum(packets)::UBIGINT, sum(bytes)::UBIGINT FROM {FLOWS} WHERE task = '{task}'"
        )
        top = rows(
            f"SELECT {KEY} AS key, sum(bytes)::UBIGINT AS b, sum(packets)::UBIGINT AS p "
            f"FROM {FLOWS} WHERE {where} GROUP BY key ORDER BY b DESC, key LIMIT 10"
        )
        tasks[task] = {
            "packets": int(packets),
            "bytes": int(bytes_),
            "top": [[key, int(b), int(p)] for key, b, p in top],
        }
    partitions = rows(
        f"SELECT DISTINCT task, CAST(date AS VARCHAR), typeof(date) FROM {FLOWS} ORDER BY ALL"
    )
    queries = []
    for query in readme_queries(readme):
        result = rows(query)
        # Settings (SET ...) are run too; only the SELECTs are counted.
        if "SELECT" in query:
            queries.append({"sql": query, "rows": len(result)})
    print(json.dumps({"tasks": tasks, "partitions": partitions, "queries": queries}))


main()

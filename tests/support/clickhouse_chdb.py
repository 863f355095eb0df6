"""A current ClickHouse release (chdb, in-process) given what netspectra
wrote into ClickHouse 18.16, for tests/clickhouse.rs.

Usage: python clickhouse_chdb.py DIR README
DIR holds `schema.sql` (the 18.16 server's SHOW CREATE of the tables and
the view, statements separated by `;\n`) and `flows.tsv`, `windows.tsv`
(their rows). The tables are created as the writer created them, filled,
and every statement of README's "ClickHouse: many probes, one store"
section that is no CREATE runs as written. Prints each statement's answer
(TabSeparated) as one JSON list.
"""

import json
import os
import re
import sys
import tempfile

from chdb import session


def readme_queries(readme):
    text = open(readme, encoding="utf-8").read()
    section = text.split("\n## ClickHouse: many probes, one store\n", 1)[1].split("\n## ", 1)[0]
    queries = []
    for block in re.findall(r"```sql\n(.*?)```", section, re.S):
        for statement in block.split(";"):
            statement = statement.strip()
            code = [line for line in statement.splitlines() if not line.startswith("--")]
            if code and not statement.startswith("CREATE"):
                queries.append(statement)
    return queries


def main():
    data, readme = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as store:
        db = session.Session(store)
        for statement in open(os.path.join(data, "schema.sql"), encoding="utf-8").read().split(";\n"):
            if statement.strip():
                db.query(statement)
        for table in ("flows", "windows"):
            path = os.path.join(data, table + ".tsv")
            db.query(f"INSERT INTO default.{table} SELECT * FROM file('{path}', 'TabSeparated')")
        answers = [str(db.query(query, "TabSeparated")) for query in readme_queries(readme)]
        print(json.dumps(answers))


main()

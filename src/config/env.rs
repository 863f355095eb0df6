//! Environment variables in a config file: `${VAR}` and `$VAR` replaced by
//! their values in the file's text before it is parsed, as Go2NetSpectra
//! does (Go's `os.ExpandEnv`), so one file serves several hosts.
//!
//! Owns the expansion and the record of it (which variable was expanded on
//! which line, and whether it was empty), so an error on that line can name
//! the variable. Never reads the file, never parses YAML.
//!
//! Rules: an unset variable is empty; `$$` is a literal `$` (Go would
//! expand it to nothing); a `$` followed by anything but a name, `{` or `$`
//! stays as it is. Line numbers never move: a value spanning lines is refused.

use std::fmt::Write as _;

/// One variable replaced in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expansion {
    /// 1-based line of the reference.
    line: usize,
    name: String,
    /// Unset, or set to the empty string.
    empty: bool,
}

/// The config text after expansion, and what was expanded where.
#[derive(Debug, Default)]
pub struct Expanded {
    pub text: String,
    expansions: Vec<Expansion>,
}

impl Expanded {
    /// What an error on `line` should add about the variables expanded on
    /// it (empty when none was): their names, never their values, which may
    /// be secrets.
    pub fn note(&self, line: usize) -> String {
        let mut note = String::new();
        for expansion in self.expansions.iter().filter(|e| e.line == line) {
            let name = &expansion.name;
            let _ = if expansion.empty {
                write!(note, "; ${{{name}}} on line {line} is unset or empty")
            } else {
                write!(note, "; the value on line {line} comes from ${{{name}}}")
            };
        }
        note
    }
}

/// Expands every reference in `text`, looking names up with `lookup`
/// (`None`: unset). Errors name the line: a `${` without its `}` on the same
/// line, an invalid name, a value holding a line break.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut expanded = Expanded {
        text: String::with_capacity(text.len()),
        expansions: Vec::new(),
    };
    for (index, line) in text.split_inclusive('\n').enumerate() {
        expand_line(line, index + 1, lookup, &mut expanded)?;
    }
    Ok(expanded)
}

fn expand_line(
    line: &str,
    number: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Expanded,
) -> Result<(), String> {
    let mut rest = line;
    while let Some(dollar) = rest.find('$') {
        out.text.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = match after.chars().next() {
            Some('$') => {
                out.text.push('$');
                rest = &after[1..];
                continue;
            }
            Some('{') => braced_name(after, number)?,
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let end = after
                    .find(|c: char| c != '_' && !c.is_ascii_alphanumeric())
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
            _ => {
                out.text.push('$');
                rest = after;
                continue;
            }
        };
        let value = lookup(name).unwrap_or_default();
        if value.contains(['\n', '\r']) {
            return Err(format!(
                "line {number}: the value of ${{{name}}} spans several lines; \
                 a config value from the environment must be one line"
            ));
        }
        out.expansions.push(Expansion {
            line: number,
            name: name.to_string(),
            empty: value.is_empty(),
        });
        out.text.push_str(&value);
        rest = &after[consumed..];
    }
    out.text.push_str(rest);
    Ok(())
}

/// The name inside `{...}` at the start of `after`, and the bytes the
/// reference takes after its `$`.
fn braced_name(after: &str, line: usize) -> Result<(&str, usize), String> {
    let Some(close) = after
        .find('}')
        .filter(|close| !after[..*close].contains('\n'))
    else {
        return Err(format!(
            "line {line}: `${{` is not closed by `}}` on its line; write `$$` for a literal `$`"
        ));
    };
    let name = &after[1..close];
    let valid = name.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    if valid {
        Ok((name, close + 1))
    } else {
        Err(format!(
            "line {line}: `${{{name}}}` is not a variable name (letters, digits and '_', \
             not starting with a digit; no defaults such as `${{VAR:-x}}`); \
             write `$$` for a literal `$`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.example".to_string()),
            "PORT" => Some("9000".to_string()),
            "EMPTY" => Some(String::new()),
            "TWO_LINES" => Some("a\nb".to_string()),
            _ => None,
        }
    }

    #[track_caller]
    fn check(text: &str, want: &str) {
        assert_eq!(expand(text, &env).expect("expands").text, want);
    }

    #[track_caller]
    fn check_refused(text: &str, want: &str) {
        let message = expand(text, &env).expect_err("refused");
        assert!(message.contains(want), "want {want:?} in: {message}");
    }

    #[test]
    fn braced_and_bare_references_take_their_values() {
        check(
            "host: ${HOST}\nport: $PORT\n",
            "host: db.example\nport: 9000\n",
        );
        check(
            "url: http://$HOST:${PORT}/x",
            "url: http://db.example:9000/x",
        );
    }

    #[test]
    fn an_unset_or_empty_variable_becomes_nothing() {
        check("a: ${NOPE}|$EMPTY|\n", "a: ||\n");
    }

    #[test]
    fn a_double_dollar_is_a_literal_dollar_and_a_lone_dollar_stays() {
        check("password: p$$w$$$$d\n", "password: p$w$$d\n");
        check(
            "cost: 5$ or $5 or $-x or $\n",
            "cost: 5$ or $5 or $-x or $\n",
        );
        check("a: $$HOST\n", "a: $HOST\n");
    }

    #[test]
    fn a_bare_name_ends_at_the_first_character_outside_a_name() {
        check("a: $HOST.local $PORT_X\n", "a: db.example.local \n");
    }

    #[test]
    fn bad_references_are_refused_naming_the_line() {
        check_refused("a: 1\nb: ${HOST\n", "line 2: `${` is not closed");
        check_refused("a: ${HOST\n}\n", "line 1: `${` is not closed");
        check_refused("a: ${}\n", "line 1: `${}` is not a variable name");
        check_refused("a: ${PORT:-9000}\n", "no defaults such as");
        check_refused("a: ${1X}\n", "`${1X}` is not a variable name");
    }

    #[test]
    fn a_value_with_a_line_break_is_refused_so_lines_keep_their_numbers() {
        check_refused(
            "a: 1\nb: $TWO_LINES\n",
            "line 2: the value of ${TWO_LINES} spans",
        );
    }

    #[test]
    fn the_note_of_a_line_names_its_variables_but_never_their_values() {
        let expanded = expand("a: 1\nh: ${NOPE}:$PORT\n", &env).expect("expands");
        assert_eq!(expanded.note(1), "");
        assert_eq!(
            expanded.note(2),
            "; ${NOPE} on line 2 is unset or empty; the value on line 2 comes from ${PORT}"
        );
        assert!(!expanded.note(2).contains("9000"));
    }
}

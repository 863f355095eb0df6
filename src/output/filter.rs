//! `inspect --where`: a small filter language over a row's key fields and
//! counters, with a hand-written tokenizer and recursive-descent parser.
//!
//! ```text
//! expr       := and_expr ("or" and_expr)*
//! and_expr   := unary ("and" unary)*
//! unary      := "not" unary | "(" expr ")" | comparison
//! comparison := FIELD ("==" | "!=" | "<" | "<=" | ">" | ">=") VALUE
//!             | ADDRESS_FIELD "in" CIDR
//! ```
//!
//! Keywords ignore case; `&&`, `||` and `!` spell and, or, not. A value is
//! one word (anything up to a space, a parenthesis or an operator
//! character) and is parsed by its field's type when the expression is
//! parsed, so every mistake is reported before anything is read, with the
//! column it starts at. The row of refused keys (`other`) has no key: a
//! comparison on a key field is unknown for it, as NULL is in SQL, so it
//! never matches through a key predicate, not even under `not`.

use std::fmt;
use std::net::IpAddr;

use super::decimal::parse_scaled;
use super::inspect::Row;
use super::names::{port_number, protocol_number};
use super::time_bound::parse_instant;
use crate::flow::{FlowKey, KeyField};

/// A parsed `--where` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
}

/// A mistake in the expression, at a character column (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

/// A field an expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Key(KeyField),
    Packets,
    Bytes,
    /// Stored records summed into the row.
    Flows,
    /// `last_seen - first_seen`, written in seconds, kept in nanoseconds.
    Duration,
    /// Bits per second over the duration.
    Rate,
    FirstSeen,
    LastSeen,
}

const COUNTER_FIELDS: [(&str, Field); 7] = [
    ("packets", Field::Packets),
    ("bytes", Field::Bytes),
    ("flows", Field::Flows),
    ("duration", Field::Duration),
    ("rate", Field::Rate),
    ("first_seen", Field::FirstSeen),
    ("last_seen", Field::LastSeen),
];

impl Field {
    fn parse(name: &str) -> Option<Field> {
        KeyField::ALL
            .into_iter()
            .find(|field| field.column_name().eq_ignore_ascii_case(name))
            .map(Field::Key)
            .or_else(|| {
                COUNTER_FIELDS
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(name))
                    .map(|(_, field)| *field)
            })
    }

    /// The name the expression and the output use.
    pub fn name(self) -> &'static str {
        match self {
            Field::Key(key) => key.column_name(),
            counter => COUNTER_FIELDS
                .iter()
                .find(|(_, field)| *field == counter)
                .map_or("", |(name, _)| name),
        }
    }

    /// The row's value; `None` for a key field of the `other` row.
    fn value(self, row: &Row) -> Option<Value> {
        let key = |read: fn(&FlowKey) -> Value| row.key.as_ref().map(read);
        Some(match self {
            Field::Key(KeyField::SrcIp) => return key(|key| Value::Address(key.src_ip())),
            Field::Key(KeyField::DstIp) => return key(|key| Value::Address(key.dst_ip())),
            Field::Key(KeyField::SrcPort) => return key(|key| Value::Number(key.src_port.into())),
            Field::Key(KeyField::DstPort) => return key(|key| Value::Number(key.dst_port.into())),
            Field::Key(KeyField::Protocol) => return key(|key| Value::Number(key.protocol.into())),
            Field::Packets => Value::Number(row.stats.packets),
            Field::Bytes => Value::Number(row.stats.bytes),
            Field::Flows => Value::Number(row.flows),
            Field::Duration => Value::Number(row.duration_ns()),
            Field::Rate => Value::Number(row.rate_bps()),
            Field::FirstSeen => Value::Number(row.stats.first_seen),
            Field::LastSeen => Value::Number(row.stats.last_seen),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// An address; `None` when the key holds none (should not occur for an address field).
    Address(Option<IpAddr>),
    Number(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        field: Field,
        op: Op,
        value: Value,
    },
    InNetwork {
        field: Field,
        network: IpAddr,
        prefix: u8,
    },
}

impl Filter {
    /// Parses `text`; the error carries the column of the offending word.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            end: text.chars().count(),
        };
        let expr = parser.or_expr()?;
        match parser.peek() {
            None => Ok(Filter { expr }),
            Some(token) => Err(token.error(format!(
                "unexpected {} after a complete condition (join conditions with and, or)",
                token.describe()
            ))),
        }
    }

    /// Every field the expression names, once each, in order of appearance.
    pub fn fields(&self) -> Vec<Field> {
        let mut found = Vec::new();
        self.expr.visit_fields(&mut |field| {
            if !found.contains(&field) {
                found.push(field);
            }
        });
        found
    }

    /// Whether `row` matches; an unknown result (a key predicate on the
    /// `other` row) does not.
    pub fn matches(&self, row: &Row) -> bool {
        self.expr.eval(row) == Some(true)
    }
}

impl Expr {
    fn visit_fields(&self, visit: &mut dyn FnMut(Field)) {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.visit_fields(visit);
                b.visit_fields(visit);
            }
            Expr::Not(inner) => inner.visit_fields(visit),
            Expr::Compare { field, .. } | Expr::InNetwork { field, .. } => visit(*field),
        }
    }

    /// Three-valued: `None` is unknown.
    fn eval(&self, row: &Row) -> Option<bool> {
        match self {
            Expr::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Not(inner) => inner.eval(row).map(|value| !value),
            Expr::Compare { field, op, value } => Some(compare(field.value(row)?, *op, *value)),
            Expr::InNetwork {
                field,
                network,
                prefix,
            } => match field.value(row)? {
                Value::Address(Some(address)) => Some(in_network(address, *network, *prefix)),
                _ => Some(false),
            },
        }
    }
}

fn compare(row: Value, op: Op, wanted: Value) -> bool {
    match (row, wanted) {
        (Value::Number(got), Value::Number(want)) => match op {
            Op::Eq => got == want,
            Op::Ne => got != want,
            Op::Lt => got < want,
            Op::Le => got <= want,
            Op::Gt => got > want,
            Op::Ge => got >= want,
        },
        (got, want) => (got == want) == (op == Op::Eq),
    }
}

/// Whether the first `prefix` bits of `address` are those of `network`
/// (never across address families).
pub fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(address), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(address) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(address), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(address) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Open,
    Close,
    Op(Op),
    Word(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    column: usize,
}

impl Token {
    fn error(&self, message: String) -> FilterError {
        FilterError {
            column: self.column,
            message,
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Open => "'('".to_string(),
            TokenKind::Close => "')'".to_string(),
            TokenKind::Op(op) => format!("operator {}", op_text(*op)),
            TokenKind::Word(word) => format!("{word:?}"),
        }
    }

    /// The keyword this word is (`and`, `or`, `not`, `in`), lowercased.
    fn keyword(&self) -> Option<&'static str> {
        let TokenKind::Word(word) = &self.kind else {
            return None;
        };
        match word.to_ascii_lowercase().as_str() {
            "and" | "&&" => Some("and"),
            "or" | "||" => Some("or"),
            "not" => Some("not"),
            "in" => Some("in"),
            _ => None,
        }
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "==",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

/// Characters that end a word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || "()=!<>".contains(c)
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        let next = chars.get(at + 1).copied();
        let (kind, len) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                at += 1;
                continue;
            }
            ('(', _) => (TokenKind::Open, 1),
            (')', _) => (TokenKind::Close, 1),
            ('=', Some('=')) => (TokenKind::Op(Op::Eq), 2),
            ('!', Some('=')) => (TokenKind::Op(Op::Ne), 2),
            ('<', Some('=')) => (TokenKind::Op(Op::Le), 2),
            ('>', Some('=')) => (TokenKind::Op(Op::Ge), 2),
            ('<', _) => (TokenKind::Op(Op::Lt), 1),
            ('>', _) => (TokenKind::Op(Op::Gt), 1),
            ('!', _) => (TokenKind::Word("not".to_string()), 1),
            ('=', _) => {
                return Err(FilterError {
                    column: at,
                    message: "a single '=' compares nothing; write == for equality".to_string(),
                });
            }
            _ => {
                let len = chars[at..]
                    .iter()
                    .position(|&c| is_delimiter(c))
                    .unwrap_or(chars.len() - at);
                let word = chars[at..at + len].iter().collect();
                (TokenKind::Word(word), len)
            }
        };
        tokens.push(Token { kind, column: at });
        at += len;
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    /// The column just past the text, where "found the end" points.
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self, wanted: &str) -> Result<Token, FilterError> {
        let token = self.peek().cloned().ok_or_else(|| FilterError {
            column: self.end,
            message: format!("expected {wanted}, found the end of the expression"),
        })?;
        self.at += 1;
        Ok(token)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek().and_then(Token::keyword) == Some(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.and_expr()?;
        while self.eat_keyword("or") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and_expr()?));
        }
        Ok(expr)
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.unary()?;
        while self.eat_keyword("and") {
            expr = Expr::And(Box::new(expr), Box::new(self.unary()?));
        }
        Ok(expr)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        let token = self.next("a field name, 'not' or '('")?;
        match &token.kind {
            TokenKind::Open => {
                let expr = self.or_expr()?;
                match self.peek() {
                    Some(Token {
                        kind: TokenKind::Close,
                        ..
                    }) => {
                        self.at += 1;
                        Ok(expr)
                    }
                    found => Err(FilterError {
                        column: found.map_or(self.end, |token| token.column),
                        message: format!(
                            "expected ')' to close the '(' at column {}, found {}",
                            token.column + 1,
                            found.map_or_else(|| "the end".to_string(), Token::describe)
                        ),
                    }),
                }
            }
            TokenKind::Word(word) if token.keyword().is_none() => {
                let field = Field::parse(word).ok_or_else(|| {
                    token.error(format!(
                        "unknown field {word:?} (want src_ip, dst_ip, src_port, dst_port, protocol, packets, bytes, flows, duration, rate, first_seen or last_seen)"
                    ))
                })?;
                self.comparison(field, &token)
            }
            _ => Err(token.error(format!(
                "expected a field name, 'not' or '(', found {}",
                token.describe()
            ))),
        }
    }

    fn comparison(&mut self, field: Field, field_token: &Token) -> Result<Expr, FilterError> {
        let token = self.next(&format!("an operator after {}", field.name()))?;
        if token.keyword() == Some("in") {
            let value = self.next("a network such as 10.0.0.0/8")?;
            return in_network_expr(field, field_token, &value);
        }
        let TokenKind::Op(op) = token.kind else {
            return Err(token.error(format!(
                "expected an operator (== != < <= > >= or in) after {}, found {}",
                field.name(),
                token.describe()
            )));
        };
        let is_address = matches!(field, Field::Key(KeyField::SrcIp | KeyField::DstIp));
        if is_address && !matches!(op, Op::Eq | Op::Ne) {
            return Err(token.error(format!(
                "{} compares with ==, != or in, not {}",
                field.name(),
                op_text(op)
            )));
        }
        let value = self.next(&format!("a value to compare {} with", field.name()))?;
        let TokenKind::Word(text) = &value.kind else {
            return Err(value.error(format!(
                "expected a value for {}, found {}",
                field.name(),
                value.describe()
            )));
        };
        let value = parse_value(field, text).map_err(|message| value.error(message))?;
        Ok(Expr::Compare { field, op, value })
    }
}

fn in_network_expr(field: Field, field_token: &Token, value: &Token) -> Result<Expr, FilterError> {
    if !matches!(field, Field::Key(KeyField::SrcIp | KeyField::DstIp)) {
        return Err(field_token.error(format!(
            "{} is not an address; `in` takes src_ip or dst_ip",
            field.name()
        )));
    }
    let TokenKind::Word(text) = &value.kind else {
        return Err(value.error(format!(
            "expected a network such as 10.0.0.0/8, found {}",
            value.describe()
        )));
    };
    let (network, prefix) = parse_network(text).ok_or_else(|| {
        value.error(format!(
            "{text:?} is not a network (want ADDRESS/LENGTH such as 10.0.0.0/8 or 2001:db8::/32)"
        ))
    })?;
    Ok(Expr::InNetwork {
        field,
        network,
        prefix,
    })
}

/// `ADDRESS/LENGTH` (a bare address is the host alone).
pub fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let longest = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) => prefix.parse().ok()?,
        Some(_) => return None,
        None => longest,
    };
    (prefix <= longest).then_some((address, prefix))
}

fn parse_value(field: Field, text: &str) -> Result<Value, String> {
    let number = |scale| parse_scaled(text, scale);
    let name = field.name();
    match field {
        Field::Key(KeyField::SrcIp | KeyField::DstIp) => text
            .parse()
            .map(|address| Value::Address(Some(address)))
            .map_err(|_| format!("{text:?} is not an IP address (for {name})")),
        Field::Key(KeyField::SrcPort | KeyField::DstPort) => number(0)
            .ok()
            .filter(|&port| port <= u64::from(u16::MAX))
            .or_else(|| port_number(text).map(u64::from))
            .map(Value::Number)
            .ok_or_else(|| format!("{text:?} is not a port number (0 to 65535) or a known service name such as https (for {name})")),
        Field::Key(KeyField::Protocol) => number(0)
            .ok()
            .filter(|&protocol| protocol <= u64::from(u8::MAX))
            .or_else(|| protocol_number(text).map(u64::from))
            .map(Value::Number)
            .ok_or_else(|| format!("{text:?} is not a protocol number (0 to 255) or a known name such as tcp (for {name})")),
        Field::FirstSeen | Field::LastSeen => parse_instant(text).map(Value::Number).ok_or_else(|| {
            format!("{text:?} is not a time (want RFC 3339 such as 2025-09-09T10:00:00Z, or Unix seconds) (for {name})")
        }),
        Field::Duration => number(9)
            .or_else(|error| {
                humantime::parse_duration(text)
                    .ok()
                    .and_then(|span| u64::try_from(span.as_nanos()).ok())
                    .ok_or(error)
            })
            .map(Value::Number)
            .map_err(|error| format!("{error} (for duration: seconds, or a span such as 500ms or 2m)")),
        Field::Packets | Field::Bytes | Field::Flows | Field::Rate => number(0)
            .map(Value::Number)
            .map_err(|error| format!("{error} (for {name}: a whole number such as 1500, 1.5k, 1e6 or 2M)")),
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column + 1, self.message)
    }
}

impl FilterError {
    /// The expression with a caret under the error's column, two lines.
    pub fn pointing_into(&self, text: &str) -> String {
        format!("  {text}\n  {}^", " ".repeat(self.column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowStats;
    use std::net::Ipv4Addr;

    const SEC: u64 = 1_000_000_000;

    fn row(src: [u8; 4], dst_port: u16, protocol: u8, bytes: u64) -> Row {
        Row {
            key: Some(FlowKey::ipv4(
                Ipv4Addr::from(src),
                Ipv4Addr::new(192, 0, 2, 1),
                40000,
                dst_port,
                protocol,
            )),
            stats: FlowStats {
                packets: 10,
                bytes,
                first_seen: 100 * SEC,
                last_seen: 102 * SEC,
            },
            spread: None,
            flows: 2,
            directed: None,
        }
    }

    fn other_row() -> Row {
        Row {
            key: None,
            ..row([0; 4], 0, 0, 5000)
        }
    }

    #[track_caller]
    fn matches(text: &str, row: &Row) -> bool {
        Filter::parse(text).expect("expression parses").matches(row)
    }

    #[track_caller]
    fn error(text: &str) -> (usize, String) {
        let error = Filter::parse(text).expect_err("expression is refused");
        (error.column, error.message)
    }

    #[test]
    fn conditions_combine_with_and_or_not_and_parentheses() {
        let web = row([10, 1, 2, 3], 443, 6, 2_000_000);
        assert!(matches(
            "dst_port == 443 and src_ip in 10.0.0.0/8 and bytes > 1e6",
            &web
        ));
        assert!(!matches("dst_port == 443 and bytes > 2M", &web));
        assert!(matches(
            "dst_port == 80 or (protocol == tcp and not bytes < 1k)",
            &web
        ));
        assert!(matches("dst_port == https && protocol != udp", &web));
        assert!(matches("! src_ip in 192.168.0.0/16", &web));
        assert!(matches("duration == 2 and rate == 8M and flows >= 2", &web));
        assert!(matches(
            "first_seen == 100 and last_seen < 1970-01-01T00:01:43Z",
            &web
        ));
        assert!(matches("src_ip == 10.1.2.3 and dst_ip != ::1", &web));
        assert!(!matches("src_ip in 2001:db8::/32", &web));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let web = row([10, 1, 2, 3], 443, 6, 100);
        assert!(matches(
            "dst_port == 1 and bytes == 1 or packets == 10",
            &web
        ));
        assert!(!matches(
            "dst_port == 1 and (bytes == 1 or packets == 10)",
            &web
        ));
    }

    #[test]
    fn the_other_row_never_matches_through_a_key_predicate() {
        let other = other_row();
        assert!(!matches("dst_port == 0", &other));
        assert!(!matches("not dst_port == 0", &other));
        assert!(!matches("src_ip in 0.0.0.0/0", &other));
        assert!(matches("bytes == 5000", &other));
        assert!(matches("dst_port == 1 or bytes == 5000", &other));
        assert!(!matches("dst_port == 1 and bytes == 5000", &other));
    }

    #[test]
    fn mistakes_point_at_their_column() {
        assert_eq!(error("dst_prt == 443").0, 0);
        assert!(
            error("dst_prt == 443")
                .1
                .starts_with("unknown field \"dst_prt\"")
        );
        assert_eq!(
            error("dst_port == 443 and"),
            (
                19,
                "expected a field name, 'not' or '(', found the end of the expression".into()
            )
        );
        assert_eq!(error("dst_port = 443").0, 9);
        assert_eq!(error("bytes > lots").0, 8);
        assert_eq!(error("src_ip > 10.0.0.1").0, 7);
        assert_eq!(error("dst_port in 10.0.0.0/8").0, 0);
        assert_eq!(error("src_ip in 10.0.0.0/33").0, 10);
        assert_eq!(error("(bytes > 1 or packets > 1").0, 25);
        assert_eq!(error("bytes > 1 packets > 1").0, 10);
        assert_eq!(error("protocol == 256").0, 12);
        assert_eq!(error("dst_port == 65536").0, 12);
        assert_eq!(error("").0, 0);
    }

    #[test]
    fn fields_are_listed_once_in_order() {
        let filter = Filter::parse("bytes > 1 and (dst_port == 53 or bytes < 9)").unwrap();
        assert_eq!(
            filter.fields(),
            [Field::Bytes, Field::Key(KeyField::DstPort)]
        );
    }

    #[test]
    fn the_caret_sits_under_the_column() {
        let error = Filter::parse("bytes > x").unwrap_err();
        assert_eq!(error.pointing_into("bytes > x"), "  bytes > x\n          ^");
    }
}

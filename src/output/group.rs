//! `inspect --group-by`: regrouping an exact task's rows by fewer key
//! fields, addresses cut to a prefix, at query time (nfdump's
//! `-A srcip4/24`).
//!
//! Syntax: fields separated by commas; an address field may carry a prefix
//! length for IPv4 and, after a second slash, one for IPv6:
//! `src_ip/24` (IPv4 by /24, IPv6 whole), `src_ip/24/64`, `src_ip//48`
//! (IPv6 only), `src_ip/24,dst_port`. A group sums packets, bytes and
//! flows, and keeps the earliest first_seen and the latest last_seen. The
//! row of refused keys (`other`) stays one row of its own.

use std::collections::HashMap;
use std::str::FromStr;

use super::inspect::Row;
use crate::flow::{AddressPrefix, FlowKey, KeyField, KeySchema};

/// The fields to group by, with address prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy {
    fields: Vec<GroupField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupField {
    field: KeyField,
    /// Bits kept of an address (whole for ports and the protocol).
    prefix: AddressPrefix,
}

impl GroupBy {
    /// The key fields the groups keep.
    pub fn schema(&self) -> KeySchema {
        let fields = KeySchema::from_fields(&self.key_fields().collect::<Vec<_>>());
        self.fields.iter().fold(fields, |schema, group| {
            schema
                .with_prefix(group.field, group.prefix)
                .unwrap_or(schema)
        })
    }

    /// The schema of the groups made from rows of a task stored with
    /// `stored`: an address keeps the shorter of the two prefixes.
    pub fn schema_for(&self, stored: KeySchema) -> KeySchema {
        let fields = KeySchema::from_fields(&self.key_fields().collect::<Vec<_>>());
        self.fields.iter().fold(fields, |schema, group| {
            let kept = stored.prefix(group.field);
            AddressPrefix::new(group.prefix.v4.min(kept.v4), group.prefix.v6.min(kept.v6))
                .and_then(|prefix| schema.with_prefix(group.field, prefix))
                .unwrap_or(schema)
        })
    }

    /// The first address field this query cuts to a longer prefix than
    /// `stored` keeps (a group cannot split what the task stored as one
    /// address), with the two prefixes.
    pub fn finer_than(
        &self,
        stored: KeySchema,
    ) -> Option<(KeyField, AddressPrefix, AddressPrefix)> {
        self.fields.iter().find_map(|group| {
            let (cut, kept) = (group.prefix, stored.prefix(group.field));
            let finer = (cut.v4 < 32 && cut.v4 > kept.v4) || (cut.v6 < 128 && cut.v6 > kept.v6);
            finer.then_some((group.field, cut, kept))
        })
    }

    /// The fields named, in the order given.
    pub fn key_fields(&self) -> impl Iterator<Item = KeyField> + '_ {
        self.fields.iter().map(|group| group.field)
    }

    /// `rows` summed by group. Groups come in the order their first row
    /// came; the `other` row, if any, last. `None` when a sum overflows.
    pub fn regroup(&self, rows: Vec<Row>) -> Option<Vec<Row>> {
        let schema = self.schema();
        let mut index: HashMap<FlowKey, usize> = HashMap::new();
        let mut groups: Vec<Row> = Vec::new();
        let mut other: Option<Row> = None;
        for row in rows {
            let Some(key) = row.key else {
                other = Some(row);
                continue;
            };
            let key = schema.project(&key);
            match index.get(&key) {
                Some(&at) => {
                    let group = &mut groups[at];
                    group.stats.checked_merge(&row.stats)?;
                    group.flows = group.flows.checked_add(row.flows)?;
                    group.directed = match (group.directed, row.directed) {
                        (Some(ours), Some(theirs)) => Some(ours.checked_add(theirs)?),
                        (ours, theirs) => ours.or(theirs),
                    };
                }
                None => {
                    index.insert(key, groups.len());
                    groups.push(Row {
                        key: Some(key),
                        ..row
                    });
                }
            }
        }
        groups.extend(other);
        Some(groups)
    }
}

impl FromStr for GroupBy {
    type Err = String;

    /// `FIELD[/V4[/V6]],...`, fields named as in the output (`src_ip`).
    fn from_str(text: &str) -> Result<GroupBy, String> {
        let mut fields: Vec<GroupField> = Vec::new();
        for item in text.split(',') {
            let group = parse_item(item.trim())?;
            if fields.iter().any(|known| known.field == group.field) {
                return Err(format!("{} is named twice", group.field.column_name()));
            }
            fields.push(group);
        }
        Ok(GroupBy { fields })
    }
}

fn parse_item(item: &str) -> Result<GroupField, String> {
    let mut parts = item.split('/');
    let name = parts.next().unwrap_or_default();
    let field = KeyField::ALL
        .into_iter()
        .find(|field| field.column_name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "unknown field {name:?} (want src_ip, dst_ip, src_port, dst_port or protocol, addresses optionally with /V4 or /V4/V6 prefix lengths)"
            )
        })?;
    let lengths: Vec<&str> = parts.collect();
    if !lengths.is_empty() && !matches!(field, KeyField::SrcIp | KeyField::DstIp) {
        return Err(format!(
            "{item:?}: only src_ip and dst_ip take a prefix length"
        ));
    }
    let length = |text: Option<&&str>, longest: u8, family: &str| -> Result<u8, String> {
        match text.copied() {
            None | Some("") => Ok(longest),
            Some(text) => text
                .parse::<u8>()
                .ok()
                .filter(|&bits| bits <= longest)
                .ok_or_else(|| {
                    format!("{item:?}: {text:?} is not an {family} prefix length (0 to {longest})")
                }),
        }
    };
    if lengths.len() > 2 {
        return Err(format!(
            "{item:?}: at most two prefix lengths, IPv4 then IPv6 (e.g. src_ip/24/64)"
        ));
    }
    let v4 = length(lengths.first(), 32, "IPv4")?;
    let v6 = length(lengths.get(1), 128, "IPv6")?;
    Ok(GroupField {
        field,
        // Both lengths were checked against their family's width.
        prefix: AddressPrefix::new(v4, v6).unwrap_or(AddressPrefix::WHOLE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowStats;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn row(key: FlowKey, packets: u64, first_seen: u64) -> Row {
        Row {
            key: Some(key),
            stats: FlowStats {
                packets,
                bytes: packets * 100,
                first_seen,
                last_seen: first_seen + 1,
            },
            spread: None,
            flows: 1,
            directed: None,
        }
    }

    fn v4(src: [u8; 4], dst_port: u16) -> FlowKey {
        FlowKey::ipv4(Ipv4Addr::from(src), Ipv4Addr::LOCALHOST, 1, dst_port, 6)
    }

    #[test]
    fn rows_sum_by_address_prefix_and_the_other_fields_named() {
        let group: GroupBy = "src_ip/24,dst_port".parse().unwrap();
        let rows = vec![
            row(v4([10, 0, 0, 1], 443), 1, 50),
            row(v4([10, 0, 0, 200], 443), 2, 40),
            row(v4([10, 0, 1, 1], 443), 4, 30),
            row(v4([10, 0, 0, 9], 80), 8, 20),
        ];
        let got = group.regroup(rows).unwrap();
        let summary: Vec<(String, u64, u64, u64)> = got
            .iter()
            .map(|row| {
                let key = row.key.unwrap();
                (
                    format!("{}:{}", key.src_ip().unwrap(), key.dst_port),
                    row.stats.packets,
                    row.flows,
                    row.stats.first_seen,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("10.0.0.0:443".to_string(), 3, 2, 40),
                ("10.0.1.0:443".to_string(), 4, 1, 30),
                ("10.0.0.0:80".to_string(), 8, 1, 20),
            ]
        );
        assert_eq!(
            got[0].key.unwrap().protocol,
            0,
            "protocol is not a group field"
        );
    }

    #[test]
    fn ipv6_addresses_take_the_second_length() {
        let group: GroupBy = "src_ip/24/32".parse().unwrap();
        let address: Ipv6Addr = "2001:db8:aaaa::1".parse().unwrap();
        let key = FlowKey::ipv6(address, Ipv6Addr::LOCALHOST, 1, 2, 17);
        let got = group.regroup(vec![row(key, 1, 0)]).unwrap();
        assert_eq!(
            got[0].key.unwrap().src_ip(),
            Some("2001:db8::".parse().unwrap())
        );
        let whole: GroupBy = "src_ip/24".parse().unwrap();
        let got = whole.regroup(vec![row(key, 1, 0)]).unwrap();
        assert_eq!(got[0].key.unwrap().src_ip(), Some(address.into()));
    }

    #[test]
    fn odd_prefix_lengths_cut_inside_a_byte() {
        let group: GroupBy = "src_ip/12".parse().unwrap();
        let key = FlowKey::ipv4(
            Ipv4Addr::new(10, 255, 255, 255),
            Ipv4Addr::LOCALHOST,
            1,
            2,
            6,
        );
        let got = group.regroup(vec![row(key, 1, 0)]).unwrap();
        assert_eq!(
            got[0].key.unwrap().src_ip(),
            Some("10.240.0.0".parse().unwrap())
        );
    }

    #[test]
    fn bad_specs_are_explained() {
        let error = |text: &str| text.parse::<GroupBy>().unwrap_err();
        assert!(error("src_mac").starts_with("unknown field \"src_mac\""));
        assert_eq!(
            error("dst_port/8"),
            "\"dst_port/8\": only src_ip and dst_ip take a prefix length"
        );
        assert_eq!(
            error("src_ip/33"),
            "\"src_ip/33\": \"33\" is not an IPv4 prefix length (0 to 32)"
        );
        assert_eq!(error("src_ip,src_ip/8"), "src_ip is named twice");
        assert!(error("src_ip/8/64/1").contains("at most two prefix lengths"));
    }
}

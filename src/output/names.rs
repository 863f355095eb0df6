//! Names for IP protocol numbers and well-known ports, as `inspect` shows
//! them and as `--where` accepts them. A small fixed table of IANA
//! assignments (protocol numbers, service names), nothing read from the
//! system: the same store reads the same on every machine.

/// IANA protocol numbers and their usual lowercase names.
const PROTOCOLS: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipip"),
    (6, "tcp"),
    (17, "udp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (89, "ospf"),
    (103, "pim"),
    (112, "vrrp"),
    (132, "sctp"),
    (136, "udplite"),
];

/// Other spellings `--where` accepts for a protocol.
const PROTOCOL_ALIASES: &[(&str, u8)] = &[("icmp6", 58), ("icmpv6", 58)];

/// Well-known ports and their IANA service names (the same for TCP and UDP
/// where both are assigned).
const PORTS: &[(u16, &str)] = &[
    (20, "ftp-data"),
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (25, "smtp"),
    (53, "domain"),
    (67, "bootps"),
    (68, "bootpc"),
    (69, "tftp"),
    (80, "http"),
    (110, "pop3"),
    (123, "ntp"),
    (137, "netbios-ns"),
    (138, "netbios-dgm"),
    (139, "netbios-ssn"),
    (143, "imap"),
    (161, "snmp"),
    (162, "snmptrap"),
    (179, "bgp"),
    (389, "ldap"),
    (443, "https"),
    (445, "microsoft-ds"),
    (465, "submissions"),
    (500, "isakmp"),
    (514, "syslog"),
    (587, "submission"),
    (636, "ldaps"),
    (853, "domain-s"),
    (993, "imaps"),
    (995, "pop3s"),
    (1194, "openvpn"),
    (1812, "radius"),
    (1883, "mqtt"),
    (3306, "mysql"),
    (3389, "ms-wbt-server"),
    (4500, "ipsec-nat-t"),
    (5060, "sip"),
    (5353, "mdns"),
    (5432, "postgresql"),
    (6379, "redis"),
    (8080, "http-alt"),
    (8443, "https-alt"),
];

/// Other spellings `--where` accepts for a port.
const PORT_ALIASES: &[(&str, u16)] = &[("dns", 53), ("dhcp", 67), ("rdp", 3389), ("dot", 853)];

/// The name of IP protocol `number` (`tcp` for 6); `None` when the table has none.
pub fn protocol_name(number: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|(known, _)| *known == number)
        .map(|(_, name)| *name)
}

/// The protocol number of `name` (`tcp`, `ipv6-icmp`, `icmp6`), ignoring ASCII case.
pub fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .map(|&(number, known)| (known, number))
        .chain(PROTOCOL_ALIASES.iter().copied())
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, number)| number)
}

/// The service name of port `number` (`https` for 443); `None` when the table has none.
pub fn port_name(number: u16) -> Option<&'static str> {
    PORTS
        .iter()
        .find(|(known, _)| *known == number)
        .map(|(_, name)| *name)
}

/// The port of service `name` (`https`, `domain`, `dns`), ignoring ASCII case.
pub fn port_number(name: &str) -> Option<u16> {
    PORTS
        .iter()
        .map(|&(number, known)| (known, number))
        .chain(PORT_ALIASES.iter().copied())
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, number)| number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_back_to_its_number() {
        for &(number, name) in PROTOCOLS {
            assert_eq!(protocol_number(name), Some(number), "{name}");
        }
        for &(number, name) in PORTS {
            assert_eq!(port_number(name), Some(number), "{name}");
        }
    }

    #[test]
    fn aliases_and_case_are_accepted_and_unknown_numbers_have_no_name() {
        assert_eq!(protocol_number("ICMP6"), Some(58));
        assert_eq!(port_number("DNS"), Some(53));
        assert_eq!(protocol_name(58), Some("ipv6-icmp"));
        assert_eq!(protocol_name(253), None);
        assert_eq!(port_name(40000), None);
        assert_eq!(port_number("nosuch"), None);
    }
}

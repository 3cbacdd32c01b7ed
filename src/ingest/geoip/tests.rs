use super::testdb::{Data, Writer};
use super::*;
use serde_json::json;

fn names(en: &str) -> Value {
    json!({"de": format!("{en} (de)"), "en": en})
}

/// GeoLite2-City's layout (an IPv6 tree with IPv4 under ::/96), as MaxMind writes it.
fn maxmind_city() -> Vec<u8> {
    let mut w = Writer::new(6);
    w.insert(
        "81.2.69.0/24",
        &json!({
            "city": {"geoname_id": 2643743, "names": names("London")},
            "continent": {"code": "EU", "geoname_id": 6255148, "names": names("Europe")},
            "country": {"geoname_id": 2635167, "iso_code": "GB", "names": names("United Kingdom")},
            "location": {"accuracy_radius": 10, "latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
            "registered_country": {"iso_code": "GB", "names": names("United Kingdom")},
            "subdivisions": [{"iso_code": "ENG", "names": names("England")}],
        }),
    );
    w.insert(
        "2a02:cf40::/29",
        &json!({
            "continent": {"code": "EU"},
            "country": {"iso_code": "NO", "names": names("Norway")},
        }),
    );
    w.finish("GeoLite2-City")
}

/// GeoLite2-ASN's layout (also DB-IP's ASN Lite).
fn maxmind_asn() -> Vec<u8> {
    let mut w = Writer::new(6);
    w.insert(
        "81.2.69.0/24",
        &json!({"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}),
    );
    w.insert(
        "1.128.0.0/11",
        &json!({"autonomous_system_number": 1221, "autonomous_system_organization": "Telstra Pty Ltd"}),
    );
    w.finish("GeoLite2-ASN")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// GeoLite2-City and -ASN test databases, opened (the folder holding them first).
fn city_and_asn() -> (tempfile::TempDir, GeoIp) {
    let dir = tempfile::tempdir().unwrap();
    let city = write(dir.path(), "city.mmdb", &maxmind_city());
    let asn = write(dir.path(), "asn.mmdb", &maxmind_asn());
    let geo = GeoIp::open(&city, Some(&asn)).unwrap();
    (dir, geo)
}

fn doc(addr: &str) -> Value {
    json!({"source": {"address": addr}, "url": {"original": "/"}})
}

#[test]
fn maxmind_city_and_asn_fill_every_field() {
    let (_dir, mut geo) = city_and_asn();
    let mut d = doc("81.2.69.160");
    geo.enrich(&mut d).unwrap();
    assert_eq!(
        d["source"],
        json!({
            "address": "81.2.69.160",
            "geo": {
                "country_iso_code": "GB",
                "country_name": "United Kingdom",
                "continent_code": "EU",
                "city_name": "London",
                "location": {"lat": 51.5142, "lon": -0.0931},
            },
            "as": {"number": 20712, "organization": {"name": "Andrews & Arnold Ltd"}},
        })
    );
    // IPv6, and an address only the ASN database covers.
    let mut d = doc("2a02:cf40::1");
    geo.enrich(&mut d).unwrap();
    assert_eq!(d["source"]["geo"]["country_name"], "Norway");
    assert!(d["source"].get("as").is_none());
    let mut d = doc("1.130.0.1");
    geo.enrich(&mut d).unwrap();
    assert_eq!(d["source"]["as"]["number"], 1221);
    assert!(d["source"].get("geo").is_none());
    let c = geo.counts();
    assert_eq!((c.located, c.private, c.unknown), (3, 0, 0));
    assert_eq!(c.databases[0].1, 2);
    assert_eq!(c.databases[1].1, 2);
}

/// A line's document under construction gets the same fields, in the same order, as a JSON
/// object (ingest enriches the former).
#[test]
fn a_line_document_is_enriched_as_a_json_object() {
    let (_dir, mut geo) = city_and_asn();
    for (addr, country) in [
        ("81.2.69.160", None),
        ("2a02:cf40::1", Some("XX")),
        ("10.0.0.1", None),
    ] {
        let mut tree = DocTree::default();
        tree.insert_str(&["source", "address"], addr);
        if let Some(c) = country {
            tree.insert_str(&["source", "geo", "country_iso_code"], c);
        }
        tree.insert_str(&["url", "original"], "/");
        let mut value = tree.to_value();
        geo.enrich(&mut value).unwrap();
        geo.enrich_doc(&mut tree).unwrap();
        assert_eq!(tree.to_value(), value);
        assert_eq!(
            serde_json::to_string(&tree.to_value()).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }
}

#[test]
fn ip_location_db_layouts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // @ip-location-db/*-country-mmdb: `country_code` only.
    let mut w = Writer::new(6);
    w.insert("5.6.0.0/16", &json!({"country_code": "DE"}));
    let country = write(dir.path(), "country.mmdb", &w.finish("country"));
    // @ip-location-db/*-city-mmdb: flat keys, 32-bit float coordinates, empty strings.
    let mut w = Writer::new(4);
    let s = |v: &str| Data::Str(v.into());
    w.insert_data(
        "5.6.7.0/24",
        &Data::Map(vec![
            ("city".into(), s("Berlin")),
            ("country_code".into(), s("DE")),
            ("latitude".into(), Data::Float(52.524_4)),
            ("longitude".into(), Data::Float(13.410_5)),
            ("postcode".into(), s("")),
            ("state1".into(), s("Land Berlin")),
            ("state2".into(), s("")),
            ("timezone".into(), s("")),
        ]),
    );
    w.insert_data("5.6.8.0/24", &Data::Map(vec![("city".into(), s(""))]));
    let city = write(dir.path(), "city.mmdb", &w.finish("city ipv4"));

    let mut geo = GeoIp::open(&country, None).unwrap();
    let mut d = doc("5.6.1.2");
    geo.enrich(&mut d).unwrap();
    assert_eq!(d["source"]["geo"], json!({"country_iso_code": "DE"}));

    let mut geo = GeoIp::open(&city, None).unwrap();
    let mut d = doc("5.6.7.8");
    geo.enrich(&mut d).unwrap();
    assert_eq!(
        d["source"]["geo"],
        json!({"country_iso_code": "DE", "city_name": "Berlin", "location": {"lat": 52.5244, "lon": 13.4105}})
    );
    // A record of empty strings fills nothing: the address counts as unknown. So does an
    // IPv6 address in an IPv4-only database.
    for addr in ["5.6.8.1", "2a00::1"] {
        let mut d = doc(addr);
        geo.enrich(&mut d).unwrap();
        assert!(d["source"].get("geo").is_none(), "{addr}: {d}");
    }
    assert_eq!((geo.counts().located, geo.counts().unknown), (1, 2));
}

#[test]
fn private_unknown_and_missing_addresses_are_counted_apart() {
    let dir = tempfile::tempdir().unwrap();
    let city = write(dir.path(), "city.mmdb", &maxmind_city());
    let mut geo = GeoIp::open(&city, None).unwrap();
    let private = [
        "10.1.2.3",
        "192.168.0.9",
        "172.16.5.5",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ];
    for addr in private {
        let mut d = doc(addr);
        geo.enrich(&mut d).unwrap();
        assert!(d["source"].get("geo").is_none(), "{addr}");
    }
    let mut d = doc("8.8.8.8");
    geo.enrich(&mut d).unwrap();
    let mut d = json!({"url": {"original": "/"}});
    geo.enrich(&mut d).unwrap();
    // ::ffff:81.2.69.1 is the mapped IPv4 address, found under ::/96.
    let mut d = doc("::ffff:81.2.69.1");
    geo.enrich(&mut d).unwrap();
    assert_eq!(d["source"]["geo"]["city_name"], "London");
    let c = geo.counts().clone();
    assert_eq!(
        (c.located, c.private, c.unknown, c.no_address),
        (1, private.len() as u64, 1, 1)
    );
    assert_eq!(
        c.to_string(),
        "GeoIP: 1 lines located, 10 from private or reserved addresses, 1 from addresses not in the database, 1 without a client address."
    );
}

#[test]
fn what_the_log_says_wins_and_a_useless_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let city = write(dir.path(), "city.mmdb", &maxmind_city());
    let asn = write(dir.path(), "asn.mmdb", &maxmind_asn());
    // --geoip given the ASN file and --geoip-asn the city file still fill everything.
    let mut geo = GeoIp::open(&asn, Some(&city)).unwrap();
    let mut d = doc("81.2.69.7");
    d["source"]["geo"] = json!({"country_iso_code": "XX"});
    geo.enrich(&mut d).unwrap();
    assert_eq!(d["source"]["geo"]["country_iso_code"], "XX");
    assert_eq!(d["source"]["geo"]["city_name"], "London");
    assert_eq!(d["source"]["as"]["number"], 20712);

    let mut geo = GeoIp::open(&city, Some(&asn)).unwrap();
    let mut d = doc("2a02:cf40::9");
    geo.enrich(&mut d).unwrap();
    let text = geo.counts().to_string();
    assert!(
        text.ends_with(&format!(
            "\n{} gave no field for any of 1 lines from public addresses: is it the right file?",
            asn.display()
        )),
        "{text}"
    );
}

#[test]
fn unusable_files_are_refused_with_the_flag_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(
        dir.path(),
        "GeoLite2-City.tar.gz",
        b"\x1f\x8b not a database",
    );
    let e = GeoIp::open(&junk, None).err().unwrap().to_string();
    assert!(
        e.starts_with(&format!(
            "--geoip {}: not a usable MaxMind DB (.mmdb) file:",
            junk.display()
        )),
        "{e}"
    );
    let city = write(dir.path(), "city.mmdb", &maxmind_city());
    let missing = dir.path().join("nope.mmdb");
    let e = GeoIp::open(&city, Some(&missing)).err().unwrap();
    assert!(
        matches!(
            e,
            GeoIpError::Open {
                flag: "--geoip-asn",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn public_and_reserved_ranges() {
    for a in [
        "8.8.8.8",
        "81.2.69.1",
        "2a00:1450::1",
        "100.128.0.1",
        "172.32.0.1",
    ] {
        assert!(is_public(a.parse().unwrap()), "{a}");
    }
    for a in [
        "0.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.1",
        "2001:db8::1",
        "ff02::1",
        "::",
    ] {
        assert!(!is_public(a.parse().unwrap()), "{a}");
    }
}

//! One MaxMind DB record into the ECS fields it can fill, whatever its layout:
//!
//! | layout | fields read |
//! |---|---|
//! | MaxMind GeoLite2/GeoIP2 Country, City; DB-IP Lite (same layout) | `country.iso_code`, `country.names.en`, `continent.code`, `city.names.en`, `location.latitude`/`longitude` |
//! | MaxMind GeoLite2 ASN, DB-IP ASN Lite | `autonomous_system_number`, `autonomous_system_organization` |
//! | `@ip-location-db/*-country-mmdb` (npm) | `country_code` |
//! | `@ip-location-db/*-city-mmdb` (npm) | `country_code`, `city` (a string), `latitude`, `longitude` |
//!
//! Unknown keys are skipped, so an Enterprise or ISP database fills what it shares with
//! these. Empty strings (ip-location-db writes `""` for an unknown city) count as absent.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The ECS fields one database record fills (each `None` when the record lacks it).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GeoFields {
    /// `source.geo.country_iso_code`.
    pub country_iso_code: Option<String>,
    /// `source.geo.country_name` (English).
    pub country_name: Option<String>,
    /// `source.geo.continent_code`.
    pub continent_code: Option<String>,
    /// `source.geo.city_name` (English).
    pub city_name: Option<String>,
    /// `source.geo.location` as (lat, lon) in degrees.
    pub location: Option<(f64, f64)>,
    /// `source.as.number`.
    pub as_number: Option<u64>,
    /// `source.as.organization.name`.
    pub as_organization: Option<String>,
}

impl GeoFields {
    /// Whether the record filled nothing tidewatch stores.
    pub fn is_empty(&self) -> bool {
        *self == GeoFields::default()
    }

    /// Fills each field still absent from `other` (the first database given wins).
    pub fn fill_from(&mut self, other: &GeoFields) {
        fn take<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        take(&mut self.country_iso_code, &other.country_iso_code);
        take(&mut self.country_name, &other.country_name);
        take(&mut self.continent_code, &other.continent_code);
        take(&mut self.city_name, &other.city_name);
        take(&mut self.location, &other.location);
        take(&mut self.as_number, &other.as_number);
        take(&mut self.as_organization, &other.as_organization);
    }
}

/// The keys of every supported layout, borrowed from the database where possible.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Record<'a> {
    #[serde(borrow)]
    country_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    continent: Option<Place<'a>>,
    #[serde(borrow)]
    city: Option<City<'a>>,
    location: Option<Location>,
    latitude: Option<Num>,
    longitude: Option<Num>,
    autonomous_system_number: Option<Num>,
    #[serde(borrow)]
    autonomous_system_organization: Option<Cow<'a, str>>,
}

/// MaxMind's `country` / `continent` maps.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Location {
    latitude: Option<Num>,
    longitude: Option<Num>,
}

/// A number of whatever type the database stored it as: the reader decodes strictly (a
/// `u64` field refuses MaxMind's `uint32` ASN, an `f64` field ip-location-db's `float`
/// coordinates), so the visitor takes any of them.
#[derive(Debug, Clone, Copy, Default)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `city`: a map with `names` (MaxMind) or a plain string (ip-location-db).
#[derive(Debug, Default)]
struct City<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for City<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = City<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a city name or a map with `names`")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(City(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(City(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "names" {
                        name = map.next_value::<Names<'de>>()?.en;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(City(name))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A non-empty string, owned.
fn text(value: Option<Cow<'_, str>>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Degrees rounded to 4 decimals (about 11 m, MaxMind's own precision): ip-location-db keeps
/// 32-bit floats, which would otherwise print as `37.422000885009766`.
fn degrees(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

impl Record<'_> {
    /// The ECS fields this record fills.
    pub fn fields(self) -> GeoFields {
        let (country_iso, country_name) = match self.country {
            Some(c) => (text(c.iso_code), text(c.names.and_then(|n| n.en))),
            None => (None, None),
        };
        let (lat, lon) = match self.location {
            Some(l) => (l.latitude, l.longitude),
            None => (self.latitude, self.longitude),
        };
        let (lat, lon) = (lat.map(|n| n.0), lon.map(|n| n.0));
        let location = match (lat, lon) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((degrees(lat), degrees(lon)))
            }
            _ => None,
        };
        GeoFields {
            country_iso_code: country_iso.or_else(|| text(self.country_code)),
            country_name,
            continent_code: self.continent.and_then(|c| text(c.code)),
            city_name: self.city.and_then(|c| text(c.0)),
            location,
            as_number: self
                .autonomous_system_number
                .map(|n| n.0)
                .filter(|n| n.fract() == 0.0 && (1.0..=4_294_967_295.0).contains(n))
                .map(|n| n as u64),
            as_organization: text(self.autonomous_system_organization),
        }
    }
}

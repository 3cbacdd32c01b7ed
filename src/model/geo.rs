//! Where an entity usually is: the model behind `lat_long`.
//!
//! [`Places`] keeps up to [`MAX_PLACES`] places an entity's locations fell in, each a
//! running centre, weight and spread. A new location is as likely as the chance of landing
//! at least that far from where the history is: for each place, the tail of an isotropic
//! 2-D normal around it (`exp(-d² / 2σ²)`, the Rayleigh tail) weighted by the place's share
//! of the history, plus the chance of novelty itself (how often a location has opened a new
//! place since the first one, Jeffreys-smoothed as in [`super::Rarity`]). So a login from
//! the usual city scores near 1, one from another continent as low as new places have been
//! rare for this entity, and an entity that roams everywhere is not surprising when it
//! roams again. The probability goes to the job's normalizer like every other function's.
//!
//! Choices a newcomer may question:
//! - **A spread floor of [`MIN_SPREAD_KM`].** GeoIP places the same user tens of kilometres
//!   apart from one day to the next (another exit node of the same provider); without a
//!   floor, a place learnt from identical points would make that jitter look impossible.
//! - **Great-circle distance (haversine, km)**, so places near the poles or across the
//!   antimeridian are as near as they are on the globe.

use super::{Observation, Reason};

/// Places one entity's model keeps; the two nearest are merged past it.
pub const MAX_PLACES: usize = 16;
/// Heap bytes a model may hold (its places, at most `MAX_PLACES`), which the job's
/// `model_memory_limit` accounts for up front.
pub const PLACES_HEAP_BYTES: u64 = (MAX_PLACES * std::mem::size_of::<Place>()) as u64;
/// Spread (σ) below which a place is never considered, km: GeoIP's city-level jitter.
pub const MIN_SPREAD_KM: f64 = 50.0;
/// A location farther than this many σ from every place opens a new place.
const NEW_PLACE_SIGMAS: f64 = 4.0;
/// Mean Earth radius, km.
const EARTH_KM: f64 = 6_371.0;

/// One place: weight, centre (degrees) and mean squared distance of its points (km²).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    weight: f64,
    lat: f64,
    lon: f64,
    mean_sq_km: f64,
}

impl Place {
    fn sigma_km(&self) -> f64 {
        // E[r²] = 2σ² for an isotropic 2-D normal.
        (self.mean_sq_km / 2.0).sqrt().max(MIN_SPREAD_KM)
    }
}

/// Where an entity's locations have been (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Places {
    places: Vec<Place>,
    /// Locations learnt.
    seen: f64,
    /// Locations that opened a new place after the first one.
    novel: f64,
}

/// Great-circle distance between two points in degrees, km.
pub fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_KM * a.sqrt().min(1.0).asin()
}

impl Places {
    /// The nearest place to `point`: its index and distance, km.
    fn nearest(&self, point: (f64, f64)) -> Option<(usize, f64)> {
        self.places
            .iter()
            .enumerate()
            .map(|(i, p)| (i, distance_km(point, (p.lat, p.lon))))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Scores a location without learning it. `actual` is the distance in km to the nearest
    /// usual place, `typical` 0 (the place itself); `lower`/`upper` are 0 and that place's
    /// usual radius (2σ).
    pub fn score(&self, point: (f64, f64)) -> Observation {
        let Some((i, nearest)) = self.nearest(point) else {
            return observation(1.0, 0.0, 0.0);
        };
        let total = self.seen + 1.0;
        let novelty = (self.novel + 0.5) / total;
        let near: f64 = self
            .places
            .iter()
            .map(|p| {
                let d = distance_km(point, (p.lat, p.lon));
                let s = p.sigma_km();
                p.weight / total * (-d * d / (2.0 * s * s)).exp()
            })
            .sum();
        let radius = 2.0 * self.places[i].sigma_km();
        observation((near + novelty).min(1.0), nearest, radius)
    }

    /// Learns a location.
    pub fn learn(&mut self, point: (f64, f64)) {
        let near = self
            .nearest(point)
            .filter(|&(i, d)| d <= NEW_PLACE_SIGMAS * self.places[i].sigma_km());
        match near {
            Some((i, d)) => {
                let p = &mut self.places[i];
                p.weight += 1.0;
                let k = 1.0 / p.weight;
                p.lat += (point.0 - p.lat) * k;
                p.lon += (point.1 - p.lon) * k;
                p.mean_sq_km += (d * d - p.mean_sq_km) * k;
            }
            None => {
                if !self.places.is_empty() {
                    self.novel += 1.0;
                }
                self.places.push(Place {
                    weight: 1.0,
                    lat: point.0,
                    lon: point.1,
                    mean_sq_km: 0.0,
                });
                if self.places.len() > MAX_PLACES {
                    self.merge_nearest_two();
                }
            }
        }
        self.seen += 1.0;
    }

    /// Merges the two nearest places into one (weights add; the spread keeps both).
    fn merge_nearest_two(&mut self) {
        let mut best = (0, 1, f64::INFINITY);
        for i in 0..self.places.len() {
            for j in i + 1..self.places.len() {
                let (a, b) = (self.places[i], self.places[j]);
                let d = distance_km((a.lat, a.lon), (b.lat, b.lon));
                if d < best.2 {
                    best = (i, j, d);
                }
            }
        }
        let (i, j, d) = best;
        let b = self.places.remove(j);
        let a = &mut self.places[i];
        let w = a.weight + b.weight;
        let (fa, fb) = (a.weight / w, b.weight / w);
        a.lat = a.lat * fa + b.lat * fb;
        a.lon = a.lon * fa + b.lon * fb;
        a.mean_sq_km = a.mean_sq_km * fa + b.mean_sq_km * fb + fa * fb * d * d;
        a.weight = w;
    }

    /// The state as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.places.len() * 32);
        let mut put = |x: f64| out.extend_from_slice(&x.to_le_bytes());
        put(self.seen);
        put(self.novel);
        for p in &self.places {
            for x in [p.weight, p.lat, p.lon, p.mean_sq_km] {
                put(x);
            }
        }
        out
    }

    /// The state back from [`Places::to_bytes`]; `None` if the bytes are not a state.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 16 || (bytes.len() - 16) % 32 != 0 {
            return None;
        }
        let nums: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| c.try_into().map(f64::from_le_bytes))
            .collect::<Result<_, _>>()
            .ok()?;
        let places: Vec<Place> = nums[2..]
            .chunks_exact(4)
            .map(|c| Place {
                weight: c[0],
                lat: c[1],
                lon: c[2],
                mean_sq_km: c[3],
            })
            .collect();
        (places.len() <= MAX_PLACES).then_some(Places {
            places,
            seen: nums[0],
            novel: nums[1],
        })
    }
}

fn observation(probability: f64, distance_km: f64, radius_km: f64) -> Observation {
    Observation {
        probability: probability.clamp(1e-300, 1.0),
        actual: distance_km,
        typical: 0.0,
        lower: 0.0,
        upper: radius_km,
        reason: Reason::Spike,
        multi_bucket_impact: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic jitter of about ±0.2° (some 20 km) around a point.
    fn jitter(i: u32, (lat, lon): (f64, f64)) -> (f64, f64) {
        let a = f64::from((i * 7919) % 101) / 100.0 - 0.5;
        let b = f64::from((i * 104_729) % 97) / 96.0 - 0.5;
        (lat + 0.4 * a, lon + 0.4 * b)
    }

    const BERLIN: (f64, f64) = (52.52, 13.40);

    #[test]
    fn a_far_location_is_unlikely_and_jitter_is_not() {
        let mut m = Places::default();
        for i in 0..200 {
            m.learn(jitter(i, BERLIN));
        }
        let home = m.score(jitter(500, BERLIN));
        assert!(home.probability > 0.3, "{home:?}");
        let sydney = m.score((-33.87, 151.21));
        assert!(sydney.probability < 0.01, "{sydney:?}");
        assert!((sydney.actual - 16_100.0).abs() < 200.0, "{sydney:?}");
        // Hamburg, 255 km away: unusual, less so than the other side of the world.
        let hamburg = m.score((53.55, 9.99));
        assert!(hamburg.probability < 0.05, "{hamburg:?}");
        assert!(hamburg.probability > sydney.probability);
    }

    #[test]
    fn an_entity_that_roams_is_not_surprising_when_it_roams() {
        let cities = [BERLIN, (40.71, -74.0), (35.68, 139.69), (-23.55, -46.63)];
        let mut m = Places::default();
        for i in 0..200u32 {
            m.learn(jitter(i, cities[(i % 4) as usize]));
        }
        let p = m.score((48.86, 2.35)).probability; // Paris: never seen, but novelty is usual
        let mut settled = Places::default();
        for i in 0..200 {
            settled.learn(jitter(i, BERLIN));
        }
        let q = settled.score((48.86, 2.35)).probability;
        // Three new places after the first against none: (3 + 0.5) / 201 against 0.5 / 201.
        assert!(p > 5.0 * q, "roaming {p} vs settled {q}");
    }

    #[test]
    fn places_are_bounded_and_state_round_trips() {
        let mut m = Places::default();
        for i in 0..100 {
            m.learn((f64::from(i) - 50.0, f64::from(i) * 3.0 - 150.0));
        }
        assert!(m.places.len() <= MAX_PLACES);
        let back = Places::from_bytes(&m.to_bytes()).expect("state");
        assert_eq!(back, m);
        assert!(Places::from_bytes(&m.to_bytes()[1..]).is_none());
        assert!((distance_km((0.0, 179.9), (0.0, -179.9)) - 22.2).abs() < 0.1);
    }
}

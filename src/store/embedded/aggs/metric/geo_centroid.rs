//! `geo_centroid`: the mean latitude and longitude of a point field's values.

use super::super::common::{check_params, obj};
use crate::store::embedded::ctx::{bad, Ctx, DocRef, Field};
use crate::store::StoreError;
use serde_json::{json, Value};

const PARAMS: &[&str] = &["field"];

/// A point field as `{lat, lon}` objects (the columns `F.lat`, `F.lon`) or `"lat,lon"`
/// strings (the column `F`).
pub(in crate::store::embedded::aggs) struct GeoCentroid<'a> {
    lat: Field<'a>,
    lon: Field<'a>,
    text: Field<'a>,
}

impl<'a> GeoCentroid<'a> {
    pub(in crate::store::embedded::aggs) fn parse(
        ctx: &Ctx<'a>,
        v: &Value,
        what: &str,
    ) -> Result<Self, StoreError> {
        check_params(PARAMS, v, what)?;
        let s = obj(v, what)?;
        let f = s.get("field").and_then(Value::as_str).ok_or_else(|| {
            bad(
                what,
                "`field` is required (scripts are not supported)".to_string(),
            )
        })?;
        Ok(GeoCentroid {
            lat: ctx.field(&format!("{f}.lat")),
            lon: ctx.field(&format!("{f}.lon")),
            text: ctx.field(f),
        })
    }

    /// The mean latitude and longitude of the documents' points, as Elasticsearch's
    /// `geo_centroid` answers (`location` left out when no document has a point).
    pub(in crate::store::embedded::aggs) fn eval(&self, ctx: &Ctx, docs: &[DocRef]) -> Value {
        let (mut n, mut sum_lat, mut sum_lon) = (0u64, 0.0f64, 0.0f64);
        let mut add = |a: f64, o: f64| {
            if (-90.0..=90.0).contains(&a) && (-180.0..=180.0).contains(&o) {
                n += 1;
                sum_lat += a;
                sum_lon += o;
            }
        };
        for &d in docs {
            let pairs = self.lat.values(d).into_iter().zip(self.lon.values(d));
            let mut any = false;
            for (a, o) in pairs {
                if let (Some(a), Some(o)) = (a.as_f64(), o.as_f64()) {
                    add(a, o);
                    any = true;
                }
            }
            if any {
                continue;
            }
            for v in self.text.values(d) {
                let point = ctx.text(v).and_then(|t| {
                    let (a, o) = t.split_once(',')?;
                    Some((a.trim().parse::<f64>().ok()?, o.trim().parse::<f64>().ok()?))
                });
                if let Some((a, o)) = point {
                    add(a, o);
                }
            }
        }
        if n == 0 {
            return json!({ "count": 0 });
        }
        let k = n as f64;
        json!({ "location": { "lat": sum_lat / k, "lon": sum_lon / k }, "count": n })
    }
}

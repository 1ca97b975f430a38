//! A [`Place`] as each format writes it: ECS `geo` and `as`, OCSF `location` and
//! `autonomous_system`, by version.

use super::Place;

/// ECS `*.geo` (ECS 9.4, field set `geo`).
#[derive(Debug, serde::Serialize)]
pub struct EcsGeo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    continent_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    /// A `geo_point` as an object, the form ECS's examples use.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<EcsPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
}

#[derive(Debug, serde::Serialize)]
pub struct EcsPoint {
    lat: f64,
    lon: f64,
}

/// ECS `*.as` (field set `as`).
#[derive(Debug, serde::Serialize)]
pub struct EcsAs<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<EcsAsOrganization<'a>>,
}

#[derive(Debug, serde::Serialize)]
pub struct EcsAsOrganization<'a> {
    name: &'a str,
}

/// OCSF `location` (object `location`): 1.1.0 has `coordinates` as [longitude, latitude]
/// (GeoJSON order); 1.8.0 deprecates it for `lat` and `long`. Its constraint asks for
/// at least one of city, country, postal code or region (and, in 1.1.0, coordinates).
#[derive(Debug, serde::Serialize)]
pub struct OcsfLocation<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coordinates: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    long: Option<f64>,
}

/// OCSF `autonomous_system` (1.8.0's `network_endpoint`; 1.1.0 has none).
#[derive(Debug, serde::Serialize)]
pub struct OcsfAutonomousSystem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl Place {
    /// ECS `source.geo`, when the City database placed the address.
    pub fn ecs_geo(&self) -> Option<EcsGeo<'_>> {
        self.has_geo().then(|| EcsGeo {
            continent_code: self.continent_code.as_deref(),
            continent_name: self.continent_name.as_deref(),
            country_iso_code: self.country_iso_code.as_deref(),
            country_name: self.country_name.as_deref(),
            region_iso_code: self.region_iso_code.as_deref(),
            region_name: self.region_name.as_deref(),
            city_name: self.city_name.as_deref(),
            postal_code: self.postal_code.as_deref(),
            location: self.location.map(|(lat, lon)| EcsPoint { lat, lon }),
            timezone: self.timezone.as_deref(),
        })
    }

    /// ECS `source.as`, when the ASN database knows the network.
    pub fn ecs_as(&self) -> Option<EcsAs<'_>> {
        (self.as_number.is_some() || self.as_organization.is_some()).then(|| EcsAs {
            number: self.as_number,
            organization: self
                .as_organization
                .as_deref()
                .map(|name| EcsAsOrganization { name }),
        })
    }

    /// OCSF `src_endpoint.location` for OCSF 1.8.0 (`v18`) or 1.1.0; `None` unless one of
    /// the attributes the object's constraint asks for is known.
    pub fn ocsf_location(&self, v18: bool) -> Option<OcsfLocation<'_>> {
        let location = OcsfLocation {
            city: self.city_name.as_deref(),
            continent: self.continent_name.as_deref(),
            country: self.country_iso_code.as_deref(),
            region: self.region_iso_code.as_deref(),
            postal_code: self.postal_code.as_deref(),
            coordinates: self.location.filter(|_| !v18).map(|(lat, lon)| [lon, lat]),
            lat: self.location.filter(|_| v18).map(|(lat, _)| lat),
            long: self.location.filter(|_| v18).map(|(_, lon)| lon),
        };
        let constrained = location.city.is_some()
            || location.country.is_some()
            || location.postal_code.is_some()
            || location.region.is_some()
            || location.coordinates.is_some();
        constrained.then_some(location)
    }

    /// OCSF `src_endpoint.autonomous_system`: OCSF 1.8.0 only.
    pub fn ocsf_autonomous_system(&self, v18: bool) -> Option<OcsfAutonomousSystem<'_>> {
        let known = self.as_number.is_some() || self.as_organization.is_some();
        (v18 && known).then_some(OcsfAutonomousSystem {
            number: self.as_number,
            name: self.as_organization.as_deref(),
        })
    }
}

/// A place as ECS writes it beside an address: `geo` and `as` (flattened into `source`).
#[derive(Debug)]
pub struct EcsPlace(pub Place);

impl serde::Serialize for EcsPlace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Some(geo) = self.0.ecs_geo() {
            map.serialize_entry("geo", &geo)?;
        }
        if let Some(owner) = self.0.ecs_as() {
            map.serialize_entry("as", &owner)?;
        }
        map.end()
    }
}

/// A place as OCSF writes it in an endpoint: `location` and, in 1.8.0,
/// `autonomous_system` (flattened into `src_endpoint`).
#[derive(Debug)]
pub struct OcsfPlace {
    pub place: Place,
    pub v18: bool,
}

impl serde::Serialize for OcsfPlace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Some(location) = self.place.ocsf_location(self.v18) {
            map.serialize_entry("location", &location)?;
        }
        if let Some(owner) = self.place.ocsf_autonomous_system(self.v18) {
            map.serialize_entry("autonomous_system", &owner)?;
        }
        map.end()
    }
}

/// Add a place's fields (an [`EcsPlace`] or [`OcsfPlace`]) to an address's JSON object,
/// for the documents built as `serde_json::Value`s.
pub fn add_to(address: &mut serde_json::Value, place: impl serde::Serialize) {
    if let (Some(target), Ok(serde_json::Value::Object(fields))) =
        (address.as_object_mut(), serde_json::to_value(place))
    {
        target.extend(fields);
    }
}

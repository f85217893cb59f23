//! Resource vectors in exact integers: the five resources the scheduler packs by.

use crate::api::labels::{
    RESOURCE_CPU, RESOURCE_EPHEMERAL_STORAGE, RESOURCE_MEMORY, RESOURCE_NVIDIA_GPU, RESOURCE_PODS,
};
use crate::api::{Quantity, QuantityError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// cpu in millicores, memory and ephemeral storage in bytes, pods and GPUs as counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_bytes: i64,
    pub pods: i64,
    pub gpus: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("resource {name}: {source}")]
    Quantity {
        name: String,
        #[source]
        source: QuantityError,
    },
    #[error("resource {0:?} is not provided by any instance type this scheduler knows")]
    Unsupported(String),
}

impl Resources {
    pub const fn new(cpu_millis: i64, memory_bytes: i64) -> Self {
        Resources {
            cpu_millis,
            memory_bytes,
            ephemeral_bytes: 0,
            pods: 0,
            gpus: 0,
        }
    }

    /// Parses a Kubernetes resource list. Names outside the five we pack by are an error, because
    /// a new node could not be shown to provide them.
    pub fn from_quantities(list: &BTreeMap<String, Quantity>) -> Result<Self, ResourceError> {
        let mut r = Resources::default();
        for (name, q) in list {
            let err = |source| ResourceError::Quantity {
                name: name.clone(),
                source,
            };
            let millis = q.non_negative_millis().map_err(err)?;
            let units = clamp(millis.div_euclid(1000) + i128::from(millis % 1000 != 0));
            match name.as_str() {
                RESOURCE_CPU => r.cpu_millis = clamp(millis),
                RESOURCE_MEMORY => r.memory_bytes = units,
                RESOURCE_EPHEMERAL_STORAGE => r.ephemeral_bytes = units,
                RESOURCE_PODS => r.pods = units,
                RESOURCE_NVIDIA_GPU => r.gpus = units,
                other => return Err(ResourceError::Unsupported(other.to_string())),
            }
        }
        Ok(r)
    }

    pub fn to_quantities(&self) -> BTreeMap<String, Quantity> {
        let mut m = BTreeMap::new();
        m.insert(
            RESOURCE_CPU.to_string(),
            Quantity::from_millis(i128::from(self.cpu_millis)),
        );
        m.insert(
            RESOURCE_MEMORY.to_string(),
            Quantity::new(self.memory_bytes.to_string()),
        );
        if self.ephemeral_bytes != 0 {
            m.insert(
                RESOURCE_EPHEMERAL_STORAGE.to_string(),
                Quantity::new(self.ephemeral_bytes.to_string()),
            );
        }
        if self.pods != 0 {
            m.insert(
                RESOURCE_PODS.to_string(),
                Quantity::new(self.pods.to_string()),
            );
        }
        if self.gpus != 0 {
            m.insert(
                RESOURCE_NVIDIA_GPU.to_string(),
                Quantity::new(self.gpus.to_string()),
            );
        }
        m
    }

    /// Whether `self` (a request) fits into `capacity` in every dimension.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cpu_millis <= capacity.cpu_millis
            && self.memory_bytes <= capacity.memory_bytes
            && self.ephemeral_bytes <= capacity.ephemeral_bytes
            && self.pods <= capacity.pods
            && self.gpus <= capacity.gpus
    }

    pub fn max(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.max(other.cpu_millis),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
            ephemeral_bytes: self.ephemeral_bytes.max(other.ephemeral_bytes),
            pods: self.pods.max(other.pods),
            gpus: self.gpus.max(other.gpus),
        }
    }

    /// Names of the dimensions where `self` exceeds `capacity`, for explanations.
    pub fn exceeded(&self, capacity: &Resources) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, a, b) in [
            (RESOURCE_CPU, self.cpu_millis, capacity.cpu_millis),
            (RESOURCE_MEMORY, self.memory_bytes, capacity.memory_bytes),
            (
                RESOURCE_EPHEMERAL_STORAGE,
                self.ephemeral_bytes,
                capacity.ephemeral_bytes,
            ),
            (RESOURCE_PODS, self.pods, capacity.pods),
            (RESOURCE_NVIDIA_GPU, self.gpus, capacity.gpus),
        ] {
            if a > b {
                out.push(name);
            }
        }
        out
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Add for Resources {
    type Output = Resources;
    fn add(self, o: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
            ephemeral_bytes: self.ephemeral_bytes.saturating_add(o.ephemeral_bytes),
            pods: self.pods.saturating_add(o.pods),
            gpus: self.gpus.saturating_add(o.gpus),
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        *self = *self + o;
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(self, o: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(o.memory_bytes),
            ephemeral_bytes: self.ephemeral_bytes.saturating_sub(o.ephemeral_bytes),
            pods: self.pods.saturating_sub(o.pods),
            gpus: self.gpus.saturating_sub(o.gpus),
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu={}m memory={}Mi",
            self.cpu_millis,
            self.memory_bytes / (1 << 20)
        )?;
        if self.ephemeral_bytes != 0 {
            write!(
                f,
                " ephemeral-storage={}Mi",
                self.ephemeral_bytes / (1 << 20)
            )?;
        }
        if self.gpus != 0 {
            write!(f, " nvidia.com/gpu={}", self.gpus)?;
        }
        Ok(())
    }
}

// Resource lists travel as Kubernetes quantity maps ({"cpu": "100m", "memory": "1Gi"}).
impl Serialize for Resources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_quantities().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, Quantity>::deserialize(d)?;
        Resources::from_quantities(&m).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_list_parses_into_exact_integers() -> Result<(), ResourceError> {
        let list: BTreeMap<String, Quantity> = [
            ("cpu", "1500m"),
            ("memory", "1Gi"),
            ("ephemeral-storage", "10G"),
            ("nvidia.com/gpu", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Quantity::new(v)))
        .collect();
        let r = Resources::from_quantities(&list)?;
        assert_eq!(r.cpu_millis, 1500);
        assert_eq!(r.memory_bytes, 1 << 30);
        assert_eq!(r.ephemeral_bytes, 10_000_000_000);
        assert_eq!(r.gpus, 1);
        Ok(())
    }

    #[test]
    fn an_unsupported_resource_is_an_error_that_names_it() {
        let list = [("vpc.amazonaws.com/pod-eni".to_string(), Quantity::new("1"))].into();
        assert_eq!(
            Resources::from_quantities(&list),
            Err(ResourceError::Unsupported(
                "vpc.amazonaws.com/pod-eni".into()
            ))
        );
    }

    #[test]
    fn fitting_is_checked_in_every_dimension() {
        let cap = Resources {
            pods: 2,
            ..Resources::new(1000, 1 << 30)
        };
        assert!(
            Resources {
                pods: 1,
                ..Resources::new(1000, 1 << 30)
            }
            .fits_in(&cap)
        );
        assert!(
            !Resources {
                pods: 3,
                ..Resources::new(10, 10)
            }
            .fits_in(&cap)
        );
        assert_eq!(Resources::new(2000, 10).exceeded(&cap), vec!["cpu"]);
    }
}

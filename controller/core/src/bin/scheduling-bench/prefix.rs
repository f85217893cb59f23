//! Reads a benchmark input keeping only the first N pods, streaming, so that the peak RSS of a
//! size does not include the pods that size does not schedule.

use karpenter_core::scheduling::{Pod, SchedulingInput};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::Read;

pub fn read<R: Read>(reader: R, pods: usize) -> Result<SchedulingInput, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let input = Input(pods).deserialize(&mut de)?;
    de.end()?;
    Ok(input)
}

struct Input(usize);

impl<'de> DeserializeSeed<'de> for Input {
    type Value = SchedulingInput;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SchedulingInput, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Input {
    type Value = SchedulingInput;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scheduling input object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SchedulingInput, A::Error> {
        let mut input = SchedulingInput::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "provisioners" => input.provisioners = map.next_value()?,
                "instanceTypes" => input.instance_types = map.next_value()?,
                "nodes" => input.nodes = map.next_value()?,
                "daemonsets" => input.daemonsets = map.next_value()?,
                "pods" => input.pods = map.next_value_seed(Pods(self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(input)
    }
}

struct Pods(usize);

impl<'de> DeserializeSeed<'de> for Pods {
    type Value = Vec<Pod>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Pod>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Pods {
    type Value = Vec<Pod>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of pods")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Pod>, A::Error> {
        let mut pods = Vec::with_capacity(self.0.min(1 << 16));
        while pods.len() < self.0 {
            match seq.next_element::<Pod>()? {
                Some(p) => pods.push(p),
                None => return Ok(pods),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(pods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{DEFAULT_SEED, default_input};

    #[test]
    fn only_the_first_pods_are_kept_and_the_rest_of_the_file_still_parses()
    -> Result<(), serde_json::Error> {
        let full = default_input(DEFAULT_SEED, 25);
        let json = serde_json::to_vec(&full)?;
        let prefix = read(&json[..], 10)?;
        assert_eq!(prefix.pods, full.pods[..10].to_vec());
        assert_eq!(prefix.instance_types, full.instance_types);
        assert_eq!(prefix.provisioners, full.provisioners);
        assert_eq!(read(&json[..], 100)?.pods.len(), 25);
        Ok(())
    }
}

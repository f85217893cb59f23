//! Spelling one name the ways AWS, Kubernetes and our settings want it.

/// `spot_interruption` -> `SpotInterruption`.
pub fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `spot_interruption` -> `spotInterruption`.
pub fn camel_case(snake: &str) -> String {
    let pascal = pascal_case(snake);
    let mut chars = pascal.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names_become_pascal_and_camel() {
        assert_eq!(
            pascal_case("describe_instance_types"),
            "DescribeInstanceTypes"
        );
        assert_eq!(
            camel_case("capacity_reservation_interruption"),
            "capacityReservationInterruption"
        );
        assert_eq!(pascal_case(""), "");
    }
}

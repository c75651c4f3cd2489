//! Stable partitioning of partition keys.

use xxhash_rust::xxh3::xxh3_64;

/// Returns the partition, in `0..partitions`, that `partition_key` belongs to.
///
/// The result is stable across processes, versions and platforms: it is the xxh3 64-bit
/// hash (seed 0) of the key's UTF-8 bytes, modulo `partitions`. A `partitions` of 0 is
/// treated as 1, so the result is then always 0.
pub fn partition_of(partition_key: &str, partitions: u32) -> u32 {
    let partitions = u64::from(partitions.max(1));
    let partition = xxh3_64(partition_key.as_bytes()) % partitions;
    u32::try_from(partition).expect("a value below a u32 modulus fits in u32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_partitions_is_treated_as_one() {
        assert_eq!(partition_of("anything", 0), 0);
        assert_eq!(partition_of("anything", 1), 0);
    }
}

//! The integration tests' pseudo-random numbers (the unit tests have
//! `crate::xorshift`, the same step).

/// One xorshift64 step on `x`, returning the new state (the tests' fixed sequences).
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

//! Stories of our own: a wire story (syndicated copies are built from it) and a second,
//! different story on the same day, for the suites that need a story carried by several
//! feeds; and many distinct stories ([`KEYWORD`] or [`PLAIN`] with [`filler`]) for the crash
//! and failover suites.

/// A wire story about rockets on the Green Zone near an embassy: both default rules fire.
pub const WIRE: &str = "Two rockets struck inside Baghdad's heavily fortified Green Zone late on Sunday, \
    landing near the US embassy compound, Iraqi security sources said. The embassy's air defence \
    system was activated and sirens sounded across the district, which houses government buildings \
    and foreign missions. No group claimed responsibility for the attack, the latest in a series of \
    rocket attacks targeting the diplomatic area and US forces in Iraq. Officials said there were no \
    casualties, but a car parked near the compound was damaged. Washington has repeatedly blamed \
    Iran-backed militias for such attacks and has threatened to close its embassy if they continue.";

/// Another story the same day (a drone shot down over the zone), distinct from [`WIRE`].
pub const OTHER: &str = "A drone was shot down over Baghdad's Green Zone on Tuesday as it approached the US \
    embassy, the Iraqi military said in a statement, the second such incident this month. Security \
    forces closed the bridges leading into the district for several hours while experts examined the \
    wreckage, which carried a small explosive charge. The prime minister ordered an investigation and \
    said those who target diplomatic missions aim to undermine Iraq's relations with its partners, \
    while the embassy said it would not comment on security matters.";

/// One sentence that every shipped rule alerts on.
pub const KEYWORD: &str = "Rockets struck Baghdad's Green Zone overnight and landed near the US embassy, Iraqi security officials said.";
/// One sentence that alerts on nothing.
pub const PLAIN: &str =
    "Markets closed higher on Tuesday as investors weighed new data on inflation and jobs.";

/// Deterministic pseudo-random numbers (no extra crate, same run every time).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Forty words that differ from item to item, so story grouping keeps every item apart.
pub fn filler(seed: usize) -> String {
    const WORDS: [&str; 16] = [
        "council", "harbour", "winter", "budget", "railway", "museum", "festival", "orchard",
        "bridge", "library", "market", "stadium", "valley", "factory", "garden", "island",
    ];
    let mut rng = Lcg(seed as u64 + 1);
    (0..40)
        .map(|_| WORDS[(rng.next() % 16) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

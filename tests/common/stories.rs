//! Two stories of our own for the suites that need a story carried by several feeds: a wire
//! story (syndicated copies are built from it) and a second, different story on the same day.

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

//! Kernel versions as named sets of switches: every version difference the model knows is a
//! field of [`Kernel`], declared once in [`crate::vocab::switches`] with its history; the
//! presets are data in [`crate::vocab::presets`]. Model code reads the switches, never a
//! version number.

pub use crate::vocab::presets::{preset, PresetSpec, PRESETS};
pub use crate::vocab::switches::{
    AnonReuse, FastPinGrab, ImportFlow, ImportLarge, IoUringPin, Kernel, KernelFault, PvTeardown,
    SlowGrab, SwitchError, UserFault, SWITCHES,
};

//! The model's vocabulary, each item declared once with its documentation: the switches
//! (every version difference, with its history of commits), releases and presets, the
//! properties the model checks, and the operations a scenario thread performs. Everything
//! else — the scenario parser, `pvmm list` and `pvmm explain`, the reports, the matrix
//! legend, the JSON schema's enums and the documents — reads these declarations.

pub mod docs;
pub mod ops;
pub mod presets;
pub mod properties;
pub mod release;
pub mod switches;

pub use ops::{OpCall, OpSpec, ThreadOp, OPS};
pub use presets::{preset, PresetSpec, PRESETS};
pub use properties::{Prop, PropertySpec, PROPERTIES};
pub use release::{Evidence, Release, ReleaseError};
pub use switches::{AnySwitch, Kernel, SwitchError, SWITCHES};

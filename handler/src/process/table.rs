//! The `actions!` macro, which turns the table in `mod.rs` into the modules, the [`Step`]
//! enum with its exhaustive dispatch, and the name → parser table.
//!
//! [`Step`]: super::Step

/// Declares every action's module, the [`Step`] enum with its exhaustive dispatch, and the
/// name → parser table.
macro_rules! actions {
    (
        steps { $($step:literal => $step_mod:ident :: $ty:ident,)* }
        settings { $($setting:literal => $setting_mod:ident,)* }
    ) => {
        $(mod $step_mod;)*
        $(mod $setting_mod;)*

        /// One pixel step of a plan, with validated parameters.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Step {
            $($ty($step_mod::$ty),)*
        }

        $(impl From<$step_mod::$ty> for Step {
            fn from(s: $step_mod::$ty) -> Self {
                Step::$ty(s)
            }
        })*

        impl Step {
            /// The name it has in `x-oss-process`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Step::$ty(_) => $step,)*
                }
            }

            fn footprint(&self, pic: &Picture) -> Option<Footprint> {
                match self {
                    $(Step::$ty(s) => s.footprint(pic),)*
                }
            }

            fn run(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
                match self {
                    $(Step::$ty(s) => s.apply(pic, ctx),)*
                }
            }
        }

        /// Action names → parsers.
        const ACTIONS: &[(&str, ParseFn)] = &[
            $(($step, parse_step::<$step_mod::$ty>),)*
            $(($setting, $setting_mod::parse),)*
        ];

        /// The action modules the table declares.
        #[cfg(test)]
        const ACTION_MODULES: &[&str] = &[$(stringify!($step_mod),)* $(stringify!($setting_mod),)*];
    };
}

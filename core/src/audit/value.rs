use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// An audit argument's value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// No value (Python's `None`).
    None,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string: a name, a type name, a path.
    Str(&'a str),
    /// The address of a primitive instance, identifying it while it lives.
    Addr(usize),
}

impl<'a> Value<'a> {
    /// The address of `instance`, as an [`Value::Addr`].
    pub fn addr_of<T: ?Sized>(instance: &T) -> Self {
        Value::Addr((instance as *const T).cast::<()>() as usize)
    }

    /// The string, if this is [`Value::Str`].
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as `f64`, if this is an integer or a float.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The number as `u64`, if this is a non-negative integer.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// An owned copy.
    #[must_use]
    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            Value::None => OwnedValue::None,
            Value::Bool(b) => OwnedValue::Bool(b),
            Value::Int(i) => OwnedValue::Int(i),
            Value::UInt(u) => OwnedValue::UInt(u),
            Value::Float(f) => OwnedValue::Float(f),
            Value::Str(s) => OwnedValue::Str(s.to_string()),
            Value::Addr(a) => OwnedValue::Addr(a),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Addr(a) => write!(f, "{a:#x}"),
        }
    }
}

macro_rules! from_ints {
    ($variant:ident as $to:ty: $($t:ty),*) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::$variant(v as $to)
            }
        }
    )*};
}
from_ints!(Int as i64: i8, i16, i32, i64, isize);
from_ints!(UInt as u64: u8, u16, u32, u64, usize);

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<f32> for Value<'_> {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}

impl From<()> for Value<'_> {
    fn from((): ()) -> Self {
        Value::None
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::None, Into::into)
    }
}

/// A named argument of an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arg<'a> {
    /// The argument's name (see the catalog).
    pub name: &'static str,
    /// Its value.
    pub value: Value<'a>,
}

impl<'a> Arg<'a> {
    /// An argument.
    pub fn new(name: &'static str, value: impl Into<Value<'a>>) -> Self {
        Arg {
            name,
            value: value.into(),
        }
    }
}

/// An event as a listener sees it: borrowed, valid during the call.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub(crate) name: &'a str,
    pub(crate) args: &'a [Arg<'a>],
}

impl<'a> Event<'a> {
    /// The event's name.
    #[must_use]
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its arguments, in order.
    #[must_use]
    pub fn args(&self) -> &'a [Arg<'a>] {
        self.args
    }

    /// The value of the argument called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.args.iter().find(|a| a.name == name).map(|a| a.value)
    }

    /// An owned copy, to keep after the listener returns.
    #[must_use]
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent {
            name: self.name.to_string(),
            args: self
                .args
                .iter()
                .map(|a| (a.name, a.value.to_owned_value()))
                .collect(),
        }
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        f.write_str("(")?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", a.name, a.value)?;
        }
        f.write_str(")")
    }
}

/// An owned [`Value`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OwnedValue {
    /// No value.
    None,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An instance address.
    Addr(usize),
}

impl OwnedValue {
    /// Borrows it as a [`Value`].
    #[must_use]
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::None => Value::None,
            OwnedValue::Bool(b) => Value::Bool(*b),
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::UInt(u) => Value::UInt(*u),
            OwnedValue::Float(f) => Value::Float(*f),
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Addr(a) => Value::Addr(*a),
        }
    }
}

/// An owned [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedEvent {
    /// The event's name.
    pub name: String,
    /// Its arguments, in order.
    pub args: Vec<(&'static str, OwnedValue)>,
}

impl OwnedEvent {
    /// The value of the argument called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Value<'_>> {
        self.args
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_value())
    }
}

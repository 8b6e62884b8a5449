use alloc::string::ToString;
use alloc::vec;

use super::*;
use crate::error::InvalidArgument;

fn arg(name: &'static str) -> BoxError {
    Box::new(InvalidArgument::new(name, "positive"))
}

#[test]
fn flatten_unnests_at_every_depth_in_order() {
    let deepest: ErrorGroup = ErrorGroup::new("deepest", vec![arg("c"), arg("d")]);
    let middle: ErrorGroup = ErrorGroup::new("middle", vec![arg("b"), Box::new(deepest)]);
    let outer: ErrorGroup = ErrorGroup::new("outer", vec![arg("a"), Box::new(middle), arg("e")]);
    assert_eq!(outer.len(), 3);
    let flat = outer.flatten();
    assert_eq!(flat.message(), "outer");
    let names: Vec<_> = flat
        .iter()
        .map(|e| e.downcast_ref::<InvalidArgument>().expect("leaf").name())
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}

#[test]
fn flatten_drops_empty_nested_groups() {
    let empty: ErrorGroup = ErrorGroup::default();
    let outer: ErrorGroup = ErrorGroup::new("outer", vec![Box::new(empty), arg("a")]);
    assert_eq!(outer.flatten().len(), 1);
}

#[test]
fn display_lists_every_error() {
    let group: ErrorGroup = ErrorGroup::new("2 failed", vec![arg("a"), arg("b")]);
    assert_eq!(
        group.to_string(),
        "2 failed (2 errors): invalid argument `a`: must be positive; \
         invalid argument `b`: must be positive"
    );
    let one: ErrorGroup<InvalidArgument> =
        ErrorGroup::new("1 failed", vec![InvalidArgument::new("x", "even")]);
    assert_eq!(
        one.to_string(),
        "1 failed (1 error): invalid argument `x`: must be even"
    );
}

#[test]
fn source_is_the_first_boxed_error() {
    use core::error::Error as _;
    let group: ErrorGroup = ErrorGroup::new("g", vec![arg("first"), arg("second")]);
    let source = group.source().expect("a source");
    assert_eq!(
        source
            .downcast_ref::<InvalidArgument>()
            .map(InvalidArgument::name),
        Some("first")
    );
    let typed: ErrorGroup<InvalidArgument> = [InvalidArgument::new("x", "y")].into_iter().collect();
    assert!(typed.source().is_none());
}

#[test]
fn into_result_tells_empty_from_not() {
    assert!(ErrorGroup::<BoxError>::default().into_result().is_ok());
    let mut collected: ErrorGroup<InvalidArgument> =
        [InvalidArgument::new("x", "y")].into_iter().collect();
    collected.push(InvalidArgument::new("z", "w"));
    collected.extend([InvalidArgument::new("v", "u")]);
    assert_eq!(collected.len(), 3);
    assert_eq!(collected.into_result().unwrap_err().into_errors().len(), 3);
}

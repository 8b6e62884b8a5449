use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::*;

// Tests share the process-wide hook with every other test in the binary, so
// each uses event names of its own; registry behaviour is tested on private
// `Hook`s.

#[test]
fn emit_macro_reaches_named_listeners_only() {
    let got = extracting("test.audit.named", |e| e.to_owned_event());
    crate::emit!(
        "test.audit.named",
        n = 3u8,
        who = "me",
        ratio = 0.5,
        flag = true,
        nothing = ()
    );
    crate::emit!("test.audit.other", n = 4u8);
    let got = got.finish();
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.name, "test.audit.named");
    assert_eq!(e.get("n"), Some(Value::UInt(3)));
    assert_eq!(e.get("who"), Some(Value::Str("me")));
    assert_eq!(e.get("ratio"), Some(Value::Float(0.5)));
    assert_eq!(e.get("flag"), Some(Value::Bool(true)));
    assert_eq!(e.get("nothing"), Some(Value::None));
    assert_eq!(e.get("missing"), None);
}

#[test]
fn private_hooks_are_independent() {
    let a = Hook::new();
    let b = Hook::new();
    let seen = a.extracting("x", |e| e.name().to_string());
    assert!(a.is_enabled() && !b.is_enabled());
    b.emit("x", &[]);
    a.emit("x", &[]);
    assert_eq!(seen.finish(), vec!["x".to_string()]);
    assert!(!a.is_enabled());
}

#[test]
fn guards_nest_and_unsubscribe_in_any_order() {
    let hook = Hook::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c1 = count.clone();
    let outer = hook.listening("e", move |_| {
        c1.fetch_add(1, Ordering::SeqCst);
    });
    let inner = hook.extracting("e", |_| ());
    hook.emit("e", &[]);
    drop(outer);
    hook.emit("e", &[]);
    assert_eq!(inner.finish().len(), 2);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(!hook.is_enabled());
}

#[test]
fn all_events_listener_sees_every_name_after_named_ones() {
    let hook = Hook::new();
    let order = Arc::new(crate::loom::StaticMutex::new(Vec::<String>::new()));
    let o1 = order.clone();
    let _all = hook.listening_all(move |e| o1.lock().push(["all:", e.name()].concat()));
    let o2 = order.clone();
    let _named = hook.listening("b", move |e| o2.lock().push(["named:", e.name()].concat()));
    hook.emit("a", &[]);
    hook.emit("b", &[]);
    assert_eq!(*order.lock(), vec!["all:a", "named:b", "all:b"]);
}

#[test]
fn subscribe_and_unsubscribe_by_id() {
    let hook = Hook::new();
    let id = hook.subscribe("e", |_| {});
    assert!(hook.is_enabled());
    assert!(hook.unsubscribe(id));
    assert!(
        !hook.unsubscribe(id),
        "second removal reports nothing removed"
    );
    assert!(!hook.is_enabled());
}

#[test]
fn listeners_may_reenter_the_hook() {
    static HOOK: Hook = Hook::new();
    let hook = &HOOK;
    let inner_seen = hook.extracting("inner", |_| ());
    let _outer = hook.listening("outer", move |_| {
        // Raise another event and subscribe from inside a listener.
        hook.emit("inner", &[]);
        let id = hook.subscribe("never", |_| {});
        hook.unsubscribe(id);
    });
    hook.emit("outer", &[]);
    assert_eq!(inner_seen.len(), 1);
}

#[test]
fn a_panicking_listener_leaves_the_registry_usable() {
    let hook = Hook::new();
    let bad = hook.listening("boom", |_| panic!("listener failed"));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook.emit("boom", &[])));
    assert!(caught.is_err(), "the panic reaches the emitter");
    drop(bad);
    let ok = hook.extracting("boom", |_| 1);
    hook.emit("boom", &[]);
    assert_eq!(ok.finish(), vec![1]);
}

#[test]
fn many_threads_listen_and_emit_concurrently() {
    static HOOK: Hook = Hook::new();
    let hook = &HOOK;
    let total = Arc::new(AtomicUsize::new(0));
    let rounds = if cfg!(miri) { 5 } else { 200 };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let total = total.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    let t = total.clone();
                    let _g = hook.listening("mt", move |_| {
                        t.fetch_add(1, Ordering::Relaxed);
                    });
                    hook.emit("mt", &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each emit sees at least its own thread's listener.
    assert!(total.load(Ordering::Relaxed) >= 4 * rounds);
    assert!(!hook.is_enabled());
}

#[test]
fn catalog_is_sorted_unique_and_documented() {
    assert!(CATALOG.windows(2).all(|w| w[0].name < w[1].name));
    for e in CATALOG {
        assert!(e.name.starts_with("asyncutils"), "{}", e.name);
        assert!(!e.description.is_empty() && !e.description.contains('|'));
        assert_eq!(catalog_entry(e.name), Some(e));
    }
    let tb = catalog_entry("asyncutils.buckets.TokenBucket").unwrap();
    assert_eq!(tb.args, &["rate", "capacity"]);
    assert_eq!(tb.module, "buckets");
    assert_eq!(catalog_entry("asyncutils.nope"), None);
}

#[test]
fn values_convert_and_display() {
    let x = 5u32;
    assert_eq!(Value::from(-3i16), Value::Int(-3));
    assert_eq!(Value::from(Some("s")), Value::Str("s"));
    assert_eq!(Value::from(None::<u8>), Value::None);
    assert_eq!(Value::addr_of(&x), Value::Addr(&x as *const u32 as usize));
    assert_eq!(Value::UInt(7).as_u64(), Some(7));
    assert_eq!(Value::Int(-1).as_u64(), None);
    let args = [Arg::new("a", 1i32), Arg::new("b", "x")];
    let e = Event {
        name: "n",
        args: &args,
    };
    assert_eq!(e.to_string(), "n(a=1, b=\"x\")");
}

//! Which workload a pod belongs to: as the evidence states it (from the pod's owner
//! references), never made up from the shape of its name.

use nightshift_core::{Action, Category};

use super::support::*;

const IMAGE: &str = "registry.local/shop/checkout:2.3.1";

/// Crash-looping pods with names no built-in controller would generate.
fn crashing(b: Bundle, owner: Option<&nightshift_core::ResourceRef>) -> Bundle {
    let mut b = b;
    for p in ["cart-blue", "cart-green"] {
        let mut c = Ctr::running("shop", p, "checkout", IMAGE)
            .waiting("CrashLoopBackOff", Some("back-off 2m40s"))
            .restarted(5, "Error", 2, 18);
        if let Some(o) = owner {
            c = c.owned_by(o.clone());
        }
        b = b.container(c).logs(
            "shop",
            p,
            true,
            &["panic: runtime error: invalid memory address or nil pointer dereference"],
        );
    }
    b
}

#[test]
fn a_pod_named_unlike_its_controller_belongs_to_its_stated_owner() {
    let w = deployment("shop", "checkout");
    let a = crashing(Bundle::on(pod("shop", "cart-blue")), Some(&w)).analyze();
    assert_eq!(a.diagnosis.category, Category::Crash, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, w, "{a:#?}");
}

#[test]
fn a_stated_owner_wins_over_a_name_that_looks_generated() {
    // `checkout-6d5f8c7b9-aaaaa` looks like a pod of Deployment checkout, but its owner
    // references say StatefulSet ledger.
    let ledger = statefulset("shop", "ledger");
    let b = Bundle::on(pod("shop", "checkout-6d5f8c7b9-aaaaa")).container(
        Ctr::running("shop", "checkout-6d5f8c7b9-aaaaa", "app", IMAGE)
            .waiting("CrashLoopBackOff", Some("back-off 2m40s"))
            .restarted(5, "Error", 2, 18)
            .owned_by(ledger.clone()),
    );
    let a = b.analyze();
    assert_eq!(a.diagnosis.root_cause, ledger, "{a:#?}");
}

#[test]
fn without_a_stated_owner_the_pod_is_its_own_root() {
    let a = crashing(Bundle::on(pod("shop", "cart-blue")), None).analyze();
    assert_eq!(a.diagnosis.root_cause, pod("shop", "cart-blue"), "{a:#?}");
    assert!(!matches!(first(&a), Action::Rollback { .. }), "{a:#?}");
}

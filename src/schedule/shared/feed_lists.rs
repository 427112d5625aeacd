//! Which feeds each instance's config lists, recorded in its membership row and compared
//! across the live instances: `status`, the journal and a metric say when they differ.

use super::Shared;
use crate::store::pg::Listed;

/// Records in this instance's membership row which feeds its config lists (at start and at
/// each reload); the heartbeat compares the instances' lists ([`compare_lists`]). A failure
/// is logged, and the list is recorded again at the next reload or registration.
pub(super) async fn publish_listed(shared: &Shared, listed: &[String]) {
    let mine = Listed::of(listed.iter().map(String::as_str));
    if let Ok(mut l) = shared.listed.lock() {
        *l = Some(mine.clone());
    }
    record_listed(shared, &mine).await;
}

/// Writes `listed` into this instance's membership row: by [`publish_listed`], and again by
/// the heartbeat when it has registered the row anew (which clears it).
pub(super) async fn record_listed(shared: &Shared, listed: &Listed) {
    if let Err(e) = shared.store.set_listed(&shared.instance, listed).await {
        tracing::warn!(error = %e, "cannot record which feeds this instance's config lists; `status` cannot compare it with the other instances'");
    }
}

/// At each heartbeat: how many different feed lists the live instances run with, for the
/// metric, and a warning in the journal when they come to differ (and a note when they
/// agree again). Each instance claims only the feeds its config lists, so a feed only some
/// list is polled by those alone, and an instance whose config was not updated keeps its
/// old share: right for the moments of a rolling change, wrong if a host was forgotten.
pub(super) async fn compare_lists(shared: &Shared, now: i64, differed: &mut bool) {
    let Ok(all) = shared.store.instances(now).await else {
        return;
    };
    let live_after = now - shared.lease_secs;
    let lists = crate::store::pg::distinct_lists(&all, live_after);
    crate::ops::metrics::instance_feed_lists(lists);
    let was = std::mem::replace(differed, lists > 1);
    match news(was, lists) {
        Some(true) => {
            let each: Vec<String> = crate::store::pg::live_lists(&all, live_after)
                .map(|(i, l)| format!("{} lists {} ({})", i.id, l.feeds, l.short()))
                .collect();
            tracing::warn!(
                instance = %shared.instance, lists, instances = %each.join("; "),
                "the running instances' configs list different feeds: each polls only the feeds its own config lists; give every instance the same config"
            );
        }
        Some(false) => {
            tracing::info!(instance = %shared.instance, "the running instances' configs list the same feeds again");
        }
        None => {}
    }
}

/// What the journal says when the live instances run `lists` different lists, having
/// differed (`was`) at the last heartbeat or not: `Some(true)` they came to differ (a warning,
/// once, not at every heartbeat), `Some(false)` they agree again, `None` nothing new.
fn news(was: bool, lists: usize) -> Option<bool> {
    match (was, lists > 1) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::news;

    #[test]
    fn the_journal_says_once_when_lists_come_to_differ_and_when_they_agree_again() {
        let mut was = false;
        let said: Vec<Option<bool>> = [1, 2, 2, 3, 1, 1, 0, 2]
            .into_iter()
            .map(|lists| {
                let n = news(was, lists);
                was = lists > 1;
                n
            })
            .collect();
        assert_eq!(
            said,
            [
                None,
                Some(true),
                None,
                None,
                Some(false),
                None,
                None,
                Some(true)
            ]
        );
    }
}

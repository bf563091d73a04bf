// The Activity page: alerts and process-manager lines merged, newest first,
// filtered.

import { feedSubject, filterFeed, FEED_FILTERS, mergeFeed, type FeedFilter, type FeedItem } from "../../logic/feed";
import { formatRelative } from "../../logic/format";
import { RowCache } from "../../logic/rows";
import { segmentedFilter } from "./filter";
import type { Kit } from "./kit";

/** A feed line with its relative time and whom it is about. */
export type FeedRow = FeedItem & { ago: string; subject: string };

export function registerActivity(k: Kit): void {
  const { Alpine, s, raw, plain } = k;
  const activityUi = Alpine.reactive({ filter: "all" as FeedFilter });
  Alpine.data("activityView", () => {
    const fx = k.scope();
    const ui = activityUi;
    const cache = new RowCache<FeedRow>(k.patchRow);
    const feed = fx.derive<FeedRow[]>(
      [],
      () => {
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        const items = filterFeed(mergeFeed(raw(s.alerts), raw(s.activity)), ui.filter);
        const workers = k.workerById();
        const tasks = k.taskById();
        // A row is rebuilt when its item or the words naming its worker change, not on every worker update.
        const named = items.map((item) => ({ item, subject: feedSubject(item, workers, tasks) }));
        return cache.list(
          named,
          (n) => n.item.key,
          (n) => [n.item, n.subject],
          (n) => ({ ...n.item, ago: formatRelative(n.item.at, now), subject: n.subject }),
        );
      },
      k.shown("activity"),
    );
    return {
      destroy() {
        fx.stop();
      },
      filter: segmentedFilter(ui, FEED_FILTERS),
      get feed() {
        return feed.value;
      },
      feedAgo(item: FeedItem & { ago?: string }) {
        return item.ago ?? formatRelative(item.at, s.nowMs);
      },
    };
  });
}

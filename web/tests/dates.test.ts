import { describe, expect, it } from "vitest";
import { dayKey, dayLabel, groupByDay, listTime, startsRun } from "@/lib/dates";

// The test script pins TZ=UTC, so local days are UTC days here.
const now = new Date("2024-05-15T12:00:00Z"); // a Wednesday

describe("groupByDay", () => {
  it("splits time-ordered messages into one group per calendar day", () => {
    const messages = [
      { id: "a", createdAt: "2024-05-13T09:00:00Z" },
      { id: "b", createdAt: "2024-05-13T23:59:59Z" },
      { id: "c", createdAt: "2024-05-14T00:00:00Z" },
      { id: "d", createdAt: "2024-05-15T08:00:00Z" },
      { id: "e", createdAt: "2024-05-15T11:00:00Z" },
    ];
    const groups = groupByDay(messages, now, "en-US");
    expect(groups.map((g) => g.key)).toEqual(["2024-05-13", "2024-05-14", "2024-05-15"]);
    expect(groups.map((g) => g.items.map((m) => m.id))).toEqual([["a", "b"], ["c"], ["d", "e"]]);
    expect(groups.map((g) => g.label)).toEqual(["Monday", "Yesterday", "Today"]);
  });

  it("returns no groups for no messages", () => {
    expect(groupByDay([], now)).toEqual([]);
  });

  it("starts a new group when the same day comes back after another day", () => {
    const groups = groupByDay(
      [
        { createdAt: "2024-05-14T10:00:00Z" },
        { createdAt: "2024-05-15T10:00:00Z" },
        { createdAt: "2024-05-15T10:01:00Z" },
      ],
      now,
    );
    expect(groups).toHaveLength(2);
    expect(groups[1].items).toHaveLength(2);
  });
});

describe("dayLabel", () => {
  it("names today, yesterday, weekdays of the last week, then dates", () => {
    expect(dayLabel("2024-05-15T00:00:01Z", now, "en-US")).toBe("Today");
    expect(dayLabel("2024-05-14T23:00:00Z", now, "en-US")).toBe("Yesterday");
    expect(dayLabel("2024-05-10T12:00:00Z", now, "en-US")).toBe("Friday");
    expect(dayLabel("2024-05-01T12:00:00Z", now, "en-US")).toContain("May 1");
    expect(dayLabel("2023-12-25T12:00:00Z", now, "en-US")).toContain("2023");
  });
});

describe("listTime", () => {
  it("shows a clock time today and coarser labels before", () => {
    expect(listTime("2024-05-15T09:05:00Z", now, "en-GB")).toBe("9:05");
    expect(listTime("2024-05-14T09:05:00Z", now, "en-GB")).toBe("Yesterday");
    expect(listTime(null, now)).toBe("");
    expect(listTime("not a date", now)).toBe("");
  });
});

describe("dayKey", () => {
  it("formats the local calendar day", () => {
    expect(dayKey(new Date("2024-01-02T03:04:05Z"))).toBe("2024-01-02");
  });
});

describe("startsRun", () => {
  const at = (sender: string, iso: string) => ({ sender, createdAt: iso });
  it("starts a run for the first message, a new sender or a long pause", () => {
    expect(startsRun(undefined, at("a", "2024-05-15T10:00:00Z"))).toBe(true);
    expect(startsRun(at("a", "2024-05-15T10:00:00Z"), at("b", "2024-05-15T10:00:10Z"))).toBe(true);
    expect(startsRun(at("a", "2024-05-15T10:00:00Z"), at("a", "2024-05-15T10:04:00Z"))).toBe(false);
    expect(startsRun(at("a", "2024-05-15T10:00:00Z"), at("a", "2024-05-15T10:06:00Z"))).toBe(true);
  });
});

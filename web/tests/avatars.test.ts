import { describe, expect, it } from "vitest";
import { avatarOf, avatarSrc } from "@/lib/avatars";

const avatar = {
  url: "/api/v1/user/avatar/6745a1b2c3d4e5f6a7b8c9d0/256?v=abc",
  thumbUrl: "/api/v1/user/avatar/6745a1b2c3d4e5f6a7b8c9d0/64?v=abc",
};

describe("avatars", () => {
  it("reads the avatar of a user document, or takes an avatar as it is", () => {
    expect(avatarOf({ _id: "u", name: "Ada", avatar })).toEqual(avatar);
    expect(avatarOf(avatar)).toEqual(avatar);
  });
  it("has none for users without one and for malformed values", () => {
    expect(avatarOf({ _id: "u", name: "Ada" })).toBeNull();
    expect(avatarOf({ _id: "u", avatar: null })).toBeNull();
    expect(avatarOf({ _id: "u", avatar: { url: 5, thumbUrl: "/x" } })).toBeNull();
    expect(avatarOf({ _id: "u", avatar: "/x.png" })).toBeNull();
    expect(avatarOf(null)).toBeNull();
    expect(avatarOf(undefined)).toBeNull();
  });
  it("loads API paths from the API's origin, other addresses as they are", () => {
    expect(avatarSrc(avatar.url)).toBe(avatar.url); // same origin in tests
    expect(avatarSrc("https://cdn.example.com/a.webp")).toBe("https://cdn.example.com/a.webp");
  });
});

import { describe, expect, it } from "vitest";
import { avatarOf, avatarSrc } from "@/lib/avatars";
import { MAX_IMAGE_BYTES } from "@/lib/config";
import { checkImage } from "@/lib/images";

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

describe("checkImage", () => {
  it("takes the image types the server takes, up to its size limit", () => {
    expect(checkImage({ type: "image/webp", size: 1024 })).toBeNull();
    expect(checkImage({ type: "image/jpeg", size: MAX_IMAGE_BYTES })).toBeNull();
  });
  it("refuses in the server's words what the server would refuse", () => {
    expect(checkImage({ type: "image/png", size: MAX_IMAGE_BYTES + 1 })).toContain("too large");
    expect(checkImage({ type: "image/svg+xml", size: 10 })).toContain("isn't supported");
    expect(checkImage({ type: "", size: 10 })).toContain("isn't supported");
  });
});

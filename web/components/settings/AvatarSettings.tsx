/** Placeholder: the avatar upload settings are written elsewhere and replace this file. */
export function AvatarSettings() {
  return null;
}

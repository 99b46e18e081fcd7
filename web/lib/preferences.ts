/**
 * Preferences of this device (kept in localStorage, not on the server): desktop notifications
 * and the new-message sound. Components read them with `useDevicePreferences`.
 */
import { useSyncExternalStore } from "react";

export interface DevicePreferences {
  /** Show a desktop notification for new messages (the browser's permission is needed too). */
  desktopNotifications: boolean;
  /** Play a short sound for new messages. */
  sound: boolean;
}

const KEY = "parley.preferences";
const DEFAULTS: DevicePreferences = { desktopNotifications: false, sound: false };
const listeners = new Set<() => void>();

function raw(): string {
  try {
    return window.localStorage.getItem(KEY) ?? "";
  } catch {
    return "";
  }
}

export function parsePreferences(value: string): DevicePreferences {
  try {
    const parsed: unknown = JSON.parse(value || "{}");
    const obj = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    return {
      desktopNotifications: obj.desktopNotifications === true,
      sound: obj.sound === true,
    };
  } catch {
    return { ...DEFAULTS };
  }
}

export function devicePreferences(): DevicePreferences {
  return typeof window === "undefined" ? { ...DEFAULTS } : parsePreferences(raw());
}

export function setDevicePreferences(patch: Partial<DevicePreferences>): void {
  const next = { ...devicePreferences(), ...patch };
  try {
    window.localStorage.setItem(KEY, JSON.stringify(next));
  } catch {
    // Storage disabled: the choice lasts until the page closes.
  }
  listeners.forEach((listener) => listener());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  const onStorage = (event: StorageEvent) => {
    if (event.key === KEY) listener();
  };
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("storage", onStorage);
  };
}

/** The preferences, kept current (also when another tab changes them). */
export function useDevicePreferences(): DevicePreferences {
  const value = useSyncExternalStore(subscribe, raw, () => "");
  return parsePreferences(value);
}

/** The browser's notification permission, or "unsupported". */
export function notificationPermission(): NotificationPermission | "unsupported" {
  if (typeof window === "undefined" || typeof window.Notification === "undefined")
    return "unsupported";
  return window.Notification.permission;
}

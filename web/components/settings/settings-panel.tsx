"use client";

import { useEffect, useState } from "react";
import * as api from "@/lib/api";
import { describeError } from "@/lib/errors";
import {
  notificationPermission,
  setDevicePreferences,
  useDevicePreferences,
} from "@/lib/preferences";
import { playChime } from "@/lib/attention";
import { Switch } from "@/components/ui/switch";
import { Spinner } from "@/components/ui/spinner";
import { BlockedList } from "./blocked-list";

type ServerSettings =
  | { kind: "loading" }
  | { kind: "ready"; settings: api.Settings }
  | { kind: "error"; message: string };

/**
 * Notifications and privacy: email notifications and read receipts (the account's, on the
 * server), desktop notifications and sound (this device's), and the people blocked.
 */
export function SettingsPanel() {
  const [server, setServer] = useState<ServerSettings>({ kind: "loading" });
  const [saving, setSaving] = useState<keyof api.Settings | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const device = useDevicePreferences();
  const [permission, setPermission] = useState<NotificationPermission | "unsupported">("default");

  useEffect(() => setPermission(notificationPermission()), []);

  useEffect(() => {
    const controller = new AbortController();
    api
      .getSettings(controller.signal)
      .then((settings) => setServer({ kind: "ready", settings }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted)
          setServer({ kind: "error", message: describeError(err, "load") });
      });
    return () => controller.abort();
  }, []);

  async function change(key: keyof api.Settings, value: boolean) {
    setSaving(key);
    setProblem(null);
    try {
      const settings = await api.updateSettings({ [key]: value });
      setServer({ kind: "ready", settings });
    } catch (err) {
      setProblem(describeError(err, "profile"));
    } finally {
      setSaving(null);
    }
  }

  // Asked only here, when the person turns the switch on: never on page load.
  async function desktop(on: boolean) {
    setProblem(null);
    if (!on) {
      setDevicePreferences({ desktopNotifications: false });
      return;
    }
    if (notificationPermission() === "unsupported") return;
    let answer = Notification.permission;
    if (answer === "default") answer = await Notification.requestPermission();
    setPermission(answer);
    if (answer === "granted") setDevicePreferences({ desktopNotifications: true });
  }

  const desktopOn = device.desktopNotifications && permission === "granted";
  const desktopNote =
    permission === "unsupported"
      ? "This browser can't show notifications."
      : permission === "denied"
        ? "Notifications are blocked for Parley in this browser. Allow them in the site settings, then turn this on."
        : "New messages show on this device when Parley is in the background or another chat is open. Muted chats stay quiet.";

  return (
    <>
      <section
        aria-labelledby="settings-notifications"
        className="mt-8 rounded-2xl border border-border bg-surface p-5 sm:p-6"
        data-testid="notification-settings"
      >
        <h2 id="settings-notifications" className="text-base font-semibold">
          Notifications
        </h2>
        <div className="mt-2 divide-y divide-border">
          {server.kind === "ready" ? (
            <Switch
              label="Email notifications"
              description="Email me about messages I haven't seen for a while."
              checked={server.settings.emailNotifications}
              busy={saving === "emailNotifications"}
              onChange={(value) => void change("emailNotifications", value)}
              data-testid="setting-email"
            />
          ) : null}
          <Switch
            label="Desktop notifications"
            description={desktopNote}
            checked={desktopOn}
            disabled={permission === "unsupported"}
            onChange={(value) => void desktop(value)}
            data-testid="setting-desktop"
          />
          <Switch
            label="Sound"
            description="Play a short sound for new messages on this device."
            checked={device.sound}
            onChange={(value) => {
              setDevicePreferences({ sound: value });
              if (value) playChime();
            }}
            data-testid="setting-sound"
          />
        </div>
      </section>

      <section
        aria-labelledby="settings-privacy"
        className="mt-6 rounded-2xl border border-border bg-surface p-5 sm:p-6"
        data-testid="privacy-settings"
      >
        <h2 id="settings-privacy" className="text-base font-semibold">
          Privacy
        </h2>
        {server.kind === "loading" ? (
          <div className="flex justify-center py-4 text-muted">
            <Spinner label="Loading settings" />
          </div>
        ) : server.kind === "error" ? (
          <p role="alert" className="mt-2 text-sm text-danger">
            {server.message}
          </p>
        ) : (
          <Switch
            label="Read receipts"
            description="When this is off, others don't see when you've read their messages, and you don't see when they've read yours. Unread counts still work."
            checked={server.settings.readReceipts}
            busy={saving === "readReceipts"}
            onChange={(value) => void change("readReceipts", value)}
            data-testid="setting-read-receipts"
          />
        )}
        {problem ? (
          <p role="alert" className="mt-2 text-sm text-danger">
            {problem}
          </p>
        ) : null}
        <BlockedList />
      </section>
    </>
  );
}

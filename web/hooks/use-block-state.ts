"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import * as api from "@/lib/api";

export interface BlockState {
  /** The caller blocked the other person. */
  blocking: boolean;
  /** The other person blocked the caller. */
  blockedBy: boolean;
  refresh: () => Promise<void>;
  /** Records a change the caller just made (block or unblock). */
  setBlocking: (blocking: boolean) => void;
}

/**
 * Whether a 1:1 chat is blocked either way (`otherId` null: a group, never blocked). Checked
 * when the chat opens and whenever `refresh` is called (after a send refused as blocked, after a
 * reconnect).
 */
export function useBlockState(otherId: string | null, epoch: number): BlockState {
  const [blocking, setBlocking] = useState(false);
  const [blockedBy, setBlockedBy] = useState(false);
  const request = useRef(0);

  const refresh = useCallback(async () => {
    const id = ++request.current;
    if (!otherId) {
      setBlocking(false);
      setBlockedBy(false);
      return;
    }
    try {
      const answer = await api.blockRelations([otherId]);
      if (id !== request.current) return;
      setBlocking(answer.blocking.includes(otherId));
      setBlockedBy(answer.blockedBy.includes(otherId));
    } catch {
      // Unknown for now: the server still refuses what it must.
    }
  }, [otherId]);

  useEffect(() => {
    void refresh();
  }, [refresh, epoch]);

  const record = useCallback((value: boolean) => {
    request.current++;
    setBlocking(value);
  }, []);

  return { blocking, blockedBy, refresh, setBlocking: record };
}

/** Images picked for upload (a message's image, an avatar): checked before they are sent. */
import { IMAGE_TYPES, MAX_IMAGE_BYTES } from "./config";
import { statusMessage } from "./errors";

/** Why `file` cannot be uploaded, in the words the server's 413/415 would get; null when it can. */
export function checkImage(file: Pick<File, "type" | "size">): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type))
    return statusMessage({ status: 415 });
  if (file.size > MAX_IMAGE_BYTES) return statusMessage({ status: 413 });
  return null;
}

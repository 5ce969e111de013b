/**
 * What is wrong with a profile, as one sentence, before anything runs: the editor's red
 * triangle (bundled into resources/editor-rules.js) and the runtime ask the same rules.
 */
import { ProfileError } from "./options";
import { resolveProfile, type EffectiveProfile, type ProfileSet } from "./resolve";

/** Why restic could not open the repository for want of a password, or null. */
export function passwordProblem(p: EffectiveProfile): string | null {
  const o = p.options;
  if (o.password !== undefined || o["password-command"] || o["password-file"]) return null;
  if (o["password-keyring"]) return `profile "${p.name}" takes its password from PRestic's OS keyring ("${o["password-keyring"]}"), which Node-RED cannot read: enter the password in the profile instead`;
  return `profile "${p.name}" has no password (set a password, a password file or a password command)`;
}

/**
 * The first problem of profile `name`: a bad option, a cycle, a missing parent, or a
 * repository without a password. A profile without a repository is a base for others, so it
 * needs no password of its own.
 */
export function profileProblem(name: string, profiles: ProfileSet): string | null {
  let p: EffectiveProfile;
  try {
    p = resolveProfile(name, profiles);
  } catch (err) {
    if (err instanceof ProfileError) return err.message;
    throw err;
  }
  if (!p.options.repository && !p.options["repository-file"]) return null;
  return passwordProblem(p);
}

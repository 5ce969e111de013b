export {
  OPTIONS, ALIASES, PASSWORD_KEYS, ProfileError, canonicalKey, parseOption, parseSizeKiB, parseDurationMs, goDuration,
  type OptionKind, type OptionSpec, type OptionValue, type FlagValue,
} from "./options";
export { splitWords, joinForRestic, quoteWords, WordsError, type SplitOptions } from "./words";
export { parseIni, type IniSection } from "./ini";
export {
  resolveProfile, describeProfile, parseProfileOptions, profilesFromIni, isSecretEnvName, repositoryUrlPassword, MASK,
  type ProfileDef, type ProfileSet, type ProfileOptions, type EffectiveProfile, type ProfileDescription,
} from "./resolve";
export { profileProblem, passwordProblem } from "./problems";
export { keepOf, type KeepPolicy } from "./keep";
export { profileToRestic, profileArgs, profileEnv, repositoryEnv, resolvePassword, withPassword, type ResticEnv } from "./restic";

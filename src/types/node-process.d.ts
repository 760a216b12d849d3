/** process.initgroups (Node's documented POSIX API since 0.9.4), which @types/node 20 leaves out. */
declare namespace NodeJS {
  interface Process {
    /** Sets the supplementary groups to `user`'s from the group database, plus `extraGroup`; root only. */
    initgroups?: (user: string | number, extraGroup: string | number) => void;
  }
}

// Lets `tsc --noEmit` run before `next build` has generated next-env.d.ts.
declare module "*.css";

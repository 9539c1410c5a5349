/** Vite turns `import "./x.css"` into a stylesheet of the build. */
declare module "*.css";

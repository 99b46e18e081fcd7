import type { NextConfig } from "next";

// Parley's web app is a static export: `next build` writes plain files into
// `out/`, which the Python web service serves next to the API.
const nextConfig: NextConfig = {
  output: "export",
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;

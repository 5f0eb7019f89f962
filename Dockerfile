# tillbox in a container: the box's three processes under `tillbox start`,
# as a non-root user, with the state dir on a volume.
#
#   docker build -t tillbox .
#   docker run -d --name tillbox -p 8080:8080 -p 8883:8883 \
#     -e TILLBOX_STORE_ID=store-1 -v tillbox-state:/var/lib/tillbox tillbox
#   docker exec tillbox tillbox secrets show     # the till tokens and MQTT accounts
#
# Peripherals: pass the device nodes and the groups that own them, e.g.
#   --device /dev/ttyUSB0 --device /dev/usb/lp0 --device /dev/hidraw0 \
#   --device /dev/bus/usb --group-add dialout --group-add lp --group-add plugdev
# (hotplug needs the host's udev rules, image/udev/; a USB device plugged in
# after the container started is only seen with --device /dev/bus/usb).
# With the reference HQ in a second container:
#   docker run -d --name hq -p 8883:8883 tillbox tillbox-hq ...  (see README)
#
# BASE is any Debian bookworm image: debian:bookworm-slim on an ordinary
# Docker host; the test (image/docker/build-test.sh) passes a local one.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# Debian's nodejs/npm (18/9) only fetch Node 24 and npm 11 from the registry:
# the lockfile needs npm 11, which needs Node >= 20. python3, make and g++
# build the epoll addon (GPIO) against Node 24's headers.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates python3 make g++ libusb-1.0-0 \
 && rm -rf /var/lib/apt/lists/*
# npm (Node) trusts the system CA store too: a registry behind a private CA works
# once the base image trusts that CA.
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
ARG NODE_VERSION=24.21.0
ARG NPM_VERSION=11.19.1
WORKDIR /opt/toolchain
RUN arch=$(dpkg --print-architecture | sed 's/amd64/x64/') \
 && npm pack --silent "node-linux-$arch@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null \
 && mkdir node npm && tar xzf node-linux-*.tgz -C node --strip-components=1 && tar xzf npm-*.tgz -C npm --strip-components=1 \
 && rm ./*.tgz && printf '#!/bin/sh\nexec /opt/toolchain/node/bin/node /opt/toolchain/npm/bin/npm-cli.js "$@"\n' >/usr/local/bin/npm11 && chmod +x /usr/local/bin/npm11
ENV PATH=/opt/toolchain/node/bin:$PATH
WORKDIR /opt/tillbox
COPY package.json package-lock.json ./
COPY scripts/postinstall.mjs scripts/
RUN npm11 ci --omit=dev --no-audit --no-fund && npm11 cache clean --force \
 && arch=$(dpkg --print-architecture | sed 's/amd64/x64/') \
 && if cmp -s node_modules/node/bin/node "node_modules/node-linux-$arch/bin/node"; then ln -sf "../../node-linux-$arch/bin/node" node_modules/node/bin/node && rm -rf "node_modules/node/node_modules/node-linux-$arch"; fi \
 && rm -rf "node_modules/node-linux-$arch/include"
COPY bin bin
COPY appliance appliance
COPY cloud cloud
COPY contract contract
COPY drivers drivers
COPY flows flows
COPY lib lib
COPY provisioning provisioning
COPY image/udev image/udev
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/compile-js.sh scripts/
# The box runs JavaScript compiled here, not the TypeScript sources: the
# compiler (the lockfile's TypeScript) lives in the toolchain, not in the box.
RUN find appliance cloud contract drivers flows lib provisioning -name '*.test.ts' -delete \
 && ts=$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version") \
 && npm11 install --silent --prefix /opt/toolchain/ts --no-audit --no-fund "typescript@$ts" \
 && bash scripts/compile-js.sh . /opt/toolchain/ts/node_modules \
 && rm -rf tsconfig.json tsconfig.build.json scripts/compile-js.sh node_modules/typescript node_modules/@typescript

FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates libusb-1.0-0 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/tillbox --shell /usr/sbin/nologin --user-group tillbox \
 && usermod -a -G dialout,lp,plugdev tillbox \
 && install -d -o tillbox -g tillbox -m 0750 /var/lib/tillbox
COPY --from=build /opt/tillbox /opt/tillbox
RUN ln -s /opt/tillbox/bin/tillbox /usr/local/bin/tillbox \
 && ln -s /opt/tillbox/bin/tillbox-hq /usr/local/bin/tillbox-hq \
 && ln -s /opt/tillbox/node_modules/node/bin/node /usr/local/bin/node
# The LAN reaches the POS API (a token on every request) and the broker over
# TLS only (8883, the box's own certificate); plain MQTT stays on loopback for
# the processes inside. Only loopback ever goes without a token.
ENV TILLBOX_STATE_DIR=/var/lib/tillbox \
    TILLBOX_HTTP_HOST=0.0.0.0 \
    TILLBOX_MQTT_HOST=127.0.0.1 \
    TILLBOX_MQTT_TLS_ENABLED=true \
    TILLBOX_MQTT_TLS_HOST=0.0.0.0 \
    NODE_ENV=production \
    NODE_COMPILE_CACHE=/var/lib/tillbox/.compile-cache
VOLUME /var/lib/tillbox
USER tillbox
WORKDIR /var/lib/tillbox
EXPOSE 8080 8883
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini reaps and forwards SIGTERM, so `docker stop` stops the box cleanly.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tillbox", "start"]

# aigw: build, test, run and benchmark against Debian's packaged nginx.

SHELL       := /bin/bash
TOP         := $(CURDIR)
BUILD       := $(TOP)/build
NGX_SRC     := /usr/share/nginx/src
NDK_SRC     := /usr/share/nginx-ndk/src
MODDIR      := /usr/lib/nginx/modules
MODULE      := $(BUILD)/ngx_http_aigw_module.so
NGINX       := /usr/sbin/nginx
AIGW_PORT   ?= 8080

CORE_SRCS   := $(filter-out $(wildcard src/ngx_*.c), $(wildcard src/aigw_*.c))
GLUE_SRCS   := ngx_http_aigw_module.c $(wildcard src/ngx_http_aigw_*.c)
HDRS        := $(wildcard src/*.h)
UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(patsubst t/unit/%.c,t/unit/bin/%,$(UNIT_SRCS))
UNIT_CFLAGS := -std=gnu99 -Wall -Wextra -Werror -O1 -g -Isrc

.PHONY: all deps build unit test test-nginx valgrind run stop bench fuzz clean

all: build

deps:
	@sh scripts/deps.sh

# The module is compiled with the compiler and linker options of the nginx
# that loads it (nginx -V: Debian's -O2 and hardening flags), as Debian's
# own module packages are; without them nginx's configure uses -O.
$(BUILD)/Makefile: config Makefile
	@mkdir -p $(BUILD)
	@echo "configuring against $(NGX_SRC)"
	@eval "ngx_args=( $$($(NGINX) -V 2>&1 \
	                     | sed -n 's/^configure arguments: //p') )"; \
	 cc_opt=; ld_opt=; \
	 for a in "$${ngx_args[@]}"; do \
	     case $$a in \
	     --with-cc-opt=*) cc_opt=$${a#--with-cc-opt=} ;; \
	     --with-ld-opt=*) ld_opt=$${a#--with-ld-opt=} ;; \
	     esac; \
	 done; \
	 cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$$cc_opt" \
	    --with-ld-opt="$$ld_opt" --add-module=$(NDK_SRC) \
	    --add-dynamic-module=$(TOP) --builddir=$(BUILD) \
	    > $(BUILD)/configure.log 2>&1 \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/Makefile $(CORE_SRCS) $(GLUE_SRCS) $(HDRS)
	@echo "building $(MODULE)"
	@$(MAKE) -f $(BUILD)/Makefile -C $(NGX_SRC) modules \
	    CFLAGS="$$(sed -n 's/^CFLAGS = //p' $(BUILD)/Makefile) -Werror" \
	    > $(BUILD)/make.log 2>&1 || { grep -A6 -E 'error:|warning:' \
	    $(BUILD)/make.log | head -60; exit 1; }

build: $(MODULE)

t/unit/bin/%: t/unit/%.c $(CORE_SRCS) $(HDRS)
	@mkdir -p t/unit/bin
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) -ljansson -lcmocka

unit: $(UNIT_BINS)
	@rc=0; for t in $(UNIT_BINS); do $$t || rc=1; done; exit $$rc

# The Test::Nginx suite, with a redis-server of its own on a free port.
test-nginx: build
	@scripts/with-redis.sh scripts/prove.sh -r t/

test: deps
	@$(MAKE) --no-print-directory build unit test-nginx

valgrind: deps build
	@TEST_NGINX_USE_VALGRIND=1 TEST_NGINX_SLEEP=0.3 \
	 scripts/with-redis.sh scripts/prove.sh -r t/ 2>&1 \
	 | tee $(BUILD)/valgrind.log; \
	 scripts/valgrind-check.sh $(BUILD)/valgrind.log

run: deps build
	@AIGW_PORT=$(AIGW_PORT) scripts/run.sh start

stop:
	@scripts/run.sh stop

bench: deps build
	@scripts/bench.sh

# libFuzzer targets (fuzz/fuzz_*.c) under ASan+UBSan, FUZZ_TIME s each.
fuzz:
	@scripts/fuzz.sh

clean:
	rm -rf $(BUILD) t/unit/bin t/servroot run

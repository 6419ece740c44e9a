// Preloaded with `--import` into a process under test: appends the URL of every module the main
// thread loads to the file named by GATEHOUSE_TEST_MODULE_LOG, so a test can see which libraries a
// command loaded. Worker threads are not recorded.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const file = process.env.GATEHOUSE_TEST_MODULE_LOG;
if (isMainThread && file) {
  registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(file, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}

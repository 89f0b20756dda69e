/**
 * Workspace roots: where sessions may point and shells may start. The policy on a real file tree
 * (symlinks, `..`, a sibling sharing a prefix, a file, a missing path), then the real CLI:
 * `--workspace-root` and GATEWAY_WORKSPACE_ROOTS, the default (the start directory), `/` for any
 * directory, and the same codes from POST /api/providers/sessions and from `/shell`.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createWorkspacePolicy, resolveWorkspaceRoots } from '../gateway/shell/shellWorkspace.js';
import { PROJECT_PATH_ERRORS } from '../machines/protocolCodes.js';
import { connect, type Frame } from './support/chatHarness.js';
import { startCli, type CliChild } from './support/cliProcess.js';

// realpath: on some systems the temp dir itself is behind a symlink.
const base = realpathSync(mkdtempSync(join(tmpdir(), 'ag-workspace-')));
const root = join(base, 'root');
const outside = join(base, 'outside');
const dataDir = join(base, 'data');
mkdirSync(join(root, 'project', 'src'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(root, 'notes.txt'), 'a file, not a directory');
writeFileSync(join(outside, 'secret.txt'), 'outside');
mkdirSync(`${root}-sibling`);
symlinkSync(outside, join(root, 'escape'));
symlinkSync(join(root, 'project'), join(outside, 'into-root'));

test.after(() => {
  rmSync(base, { recursive: true, force: true });
  rmSync(`${root}-sibling`, { recursive: true, force: true });
});

test('the policy: inside after realpath is admitted, each refusal has its own code', async () => {
  const policy = createWorkspacePolicy([root]);
  const cases: Array<[string, string]> = [
    [root, 'ok'],
    [join(root, 'project', 'src'), 'ok'],
    [`${root}/project/../project/src`, 'ok'],
    [join(outside, 'into-root'), 'ok'], // a symlink from outside that lands inside
    [join(root, 'missing'), 'PROJECT_PATH_NOT_FOUND'],
    [join(root, 'notes.txt', 'below'), 'PROJECT_PATH_NOT_FOUND'],
    [join(root, 'notes.txt'), 'PROJECT_PATH_NOT_DIRECTORY'],
    [outside, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    [join(root, 'escape'), 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    [`${root}/../outside`, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    [`${root}-sibling`, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    // Outside, nothing more is said: not whether it exists, nor whether it is a directory.
    [join(outside, 'secret.txt'), 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    [join(outside, 'no-such-dir', 'deeper'), 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    [join(root, 'escape', 'no-such-dir'), 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
  ];
  for (const [requested, expected] of cases) {
    const result = await policy.check(requested, { requireAbsolute: true });
    assert.is(result.ok ? 'ok' : result.code, expected, requested);
    if (!result.ok) assert.is(result.error, PROJECT_PATH_ERRORS[result.code], 'the table text');
  }
  const inside = await policy.check(`${root}/project/../project/src`);
  assert.equal(inside, { ok: true, path: join(root, 'project', 'src') }, 'the resolved path comes back');
  const relative = await policy.check('project', { requireAbsolute: true });
  assert.is(relative.ok ? 'ok' : relative.code, 'PROJECT_PATH_NOT_ABSOLUTE');

  const anywhere = createWorkspacePolicy(['/']);
  assert.ok((await anywhere.check(outside)).ok, '"/" admits any directory');
  const noRoots = createWorkspacePolicy(undefined);
  assert.ok((await noRoots.check(outside)).ok, 'no roots (an embedder without allowedRoots): any directory');
  const missing = await noRoots.check(join(outside, 'nope'));
  assert.is(missing.ok ? 'ok' : missing.code, 'PROJECT_PATH_NOT_FOUND');
});

test('resolveWorkspaceRoots: real directories only, resolved and deduplicated', async () => {
  assert.equal(await resolveWorkspaceRoots([root, `${root}/project/..`, join(outside, 'into-root')], '--workspace-root'), [root, join(root, 'project')]);
  for (const [bad, reason] of [
    [join(base, 'nope'), /--workspace-root ".*nope" does not exist/],
    [join(root, 'notes.txt'), /--workspace-root ".*notes.txt" is not a directory/],
  ] as const) {
    try {
      await resolveWorkspaceRoots([bad], '--workspace-root');
      assert.unreachable(bad);
    } catch (error) {
      assert.match((error as Error).message, reason);
    }
  }
});

async function post(cli: CliChild, projectPath: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cli.url}/api/providers/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cli.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'demo', projectPath }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function shellAnswer(cli: CliChild, projectPath: string): Promise<Frame> {
  const shell = await connect(cli.url.replace('http', 'ws'), '/shell', cli.token);
  try {
    shell.send({ type: 'init', projectPath, sessionId: 'ws-probe', isPlainShell: true, initialCommand: 'echo started-in-$PWD', forceRestart: true });
    return await shell.waitFor((f) => f.type === 'error' || (f.type === 'output' && String(f.data).includes('started-in-')), 10_000);
  } finally {
    await shell.close();
  }
}

/** The banner's workspace line (printed after the lines startCli waits for). */
async function workspaceLine(cli: CliChild): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = cli.stdout().split('\n').find((text) => text.includes('workspace:'));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no workspace line in:\n${cli.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stop(cli: CliChild): Promise<void> {
  cli.child.kill('SIGTERM');
  await cli.exited;
}

test('the CLI with --workspace-root: sessions and shells get the same codes; the banner names the root', async () => {
  const cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--workspace-root', root]);
  try {
    assert.ok((await workspaceLine(cli)).includes(`workspace: ${root} `), 'printed in the banner');
    const refused: Array<[unknown, number, string]> = [
      ['relative/dir', 400, 'PROJECT_PATH_NOT_ABSOLUTE'],
      ['', 400, 'PROJECT_PATH_NOT_ABSOLUTE'],
      [join(root, 'does', 'not', 'exist'), 400, 'PROJECT_PATH_NOT_FOUND'],
      [join(root, 'notes.txt'), 400, 'PROJECT_PATH_NOT_DIRECTORY'],
      [outside, 400, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
      [join(root, 'escape'), 400, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
      ['/etc/passwd', 400, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
      ['/does/not/exist', 400, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    ];
    for (const [projectPath, status, code] of refused) {
      const answer = await post(cli, projectPath);
      assert.is(answer.status, status, String(projectPath));
      assert.equal(answer.body, { error: PROJECT_PATH_ERRORS[code as keyof typeof PROJECT_PATH_ERRORS], code }, String(projectPath));
    }

    // Admitted, and stored resolved: what a shell or a run will really use.
    const created = await post(cli, `${root}/project/../project/src`);
    assert.is(created.status, 201);
    const got = await fetch(`${cli.url}/api/providers/sessions/${created.body.sessionId as string}`, { headers: { authorization: `Bearer ${cli.token}` } });
    assert.is(((await got.json()) as { projectPath: string }).projectPath, join(root, 'project', 'src'));

    // /shell: baseline's message, and the cause as a code.
    for (const [projectPath, code] of [
      [join(root, 'does-not-exist'), 'PROJECT_PATH_NOT_FOUND'],
      [join(root, 'notes.txt'), 'PROJECT_PATH_NOT_DIRECTORY'],
      [outside, 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
      [join(root, 'escape'), 'PROJECT_PATH_OUTSIDE_WORKSPACE'],
    ]) {
      const answer = await shellAnswer(cli, projectPath);
      assert.equal(answer, { type: 'error', message: 'Invalid project path', code }, projectPath);
    }
    const started = await shellAnswer(cli, join(root, 'project'));
    assert.is(started.type, 'output', 'a shell inside the root starts');

    const config = await fetch(`${cli.url}/api/config`, { headers: { authorization: `Bearer ${cli.token}` } });
    const body = (await config.json()) as { defaultProjectPath: string; workspaceRoots: string[] };
    assert.equal(body.workspaceRoots, [root]);
    assert.is(body.defaultProjectPath, root, 'the start directory is outside the root: the form gets the root');
  } finally {
    await stop(cli);
  }
});

test('the CLI without the option: the start directory is the workspace; GATEWAY_WORKSPACE_ROOTS and "/" also work', async () => {
  // An empty variable counts as unset: the default, whatever the environment running the specs says.
  const plain = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], { GATEWAY_WORKSPACE_ROOTS: '' });
  try {
    assert.ok((await workspaceLine(plain)).includes(`workspace: ${process.cwd()} `));
    assert.is((await post(plain, process.cwd())).status, 201);
    assert.is((await post(plain, root)).body.code, 'PROJECT_PATH_OUTSIDE_WORKSPACE', 'a temp dir is outside the start directory');
    assert.is((await shellAnswer(plain, root)).code, 'PROJECT_PATH_OUTSIDE_WORKSPACE');
  } finally {
    await stop(plain);
  }

  const fromEnv = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], { GATEWAY_WORKSPACE_ROOTS: [join(root, 'project'), outside].join(delimiter) });
  try {
    assert.is((await post(fromEnv, outside)).status, 201);
    assert.is((await post(fromEnv, join(root, 'project', 'src'))).status, 201);
    assert.is((await post(fromEnv, root)).body.code, 'PROJECT_PATH_OUTSIDE_WORKSPACE');
  } finally {
    await stop(fromEnv);
  }

  const anywhere = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--workspace-root', '/']);
  try {
    assert.match(await workspaceLine(anywhere), /workspace: \/ \(any directory\)/);
    assert.is((await post(anywhere, outside)).status, 201);
    assert.is((await post(anywhere, '/does/not/exist')).body.code, 'PROJECT_PATH_NOT_FOUND');
    assert.is((await shellAnswer(anywhere, outside)).type, 'output');
  } finally {
    await stop(anywhere);
  }
});

test('a --workspace-root that does not exist stops the start with exit 1 and says which', () => {
  const missing = join(base, 'typo');
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--port', '0', '--data-dir', dataDir, '--workspace-root', missing], { encoding: 'utf8', timeout: 30_000 });
  assert.is(run.status, 1);
  assert.ok(run.stderr.includes(`could not start: --workspace-root "${missing}" does not exist`), run.stderr);
});

test.run();

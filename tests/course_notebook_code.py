"""The Deep RL Course Unit 4 notebook's own code (huggingface/deep-rl-class, notebooks/unit4/unit4.ipynb).

``Policy`` and ``reinforce`` are the notebook's cells with the gym -> gymnasium changes a student makes today
(``state, _ = env.reset()``; ``terminated or truncated``) and the class made to pickle as ``__main__.Policy``, as a
notebook cell's class does. ``evaluate_agent_verbatim`` is the notebook's evaluation cell copied unchanged: it speaks
the old gym API (``state = env.reset()``, 4-tuple ``step``), so it is run on :class:`OldGymAPI`, the view of a
gymnasium env that old gym gave. Both loops only ever call ``policy.act(state)``.
"""

from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical

device = torch.device("cpu")
env = None  # the notebook's global training env; set by make_notebook_envs()


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super(Policy, self).__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)

    def act(self, state):
        state = torch.from_numpy(state).float().unsqueeze(0).to(device)
        probs = self.forward(state).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


Policy.__module__ = "__main__"  # as a class defined in a notebook cell


def reinforce(policy, optimizer, n_training_episodes, max_t, gamma, print_every):
    # Help us to calculate the score during the training
    scores_deque = deque(maxlen=100)
    scores = []
    # Line 3 of pseudocode
    for i_episode in range(1, n_training_episodes+1):
        saved_log_probs = []
        rewards = []
        state, _ = env.reset()
        # Line 4 of pseudocode
        for t in range(max_t):
            action, log_prob = policy.act(state)
            saved_log_probs.append(log_prob)
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        scores_deque.append(sum(rewards))
        scores.append(sum(rewards))

        # Line 6 of pseudocode: calculate the return
        returns = deque(maxlen=max_t)
        n_steps = len(rewards)
        for t in range(n_steps)[::-1]:
            disc_return_t = (returns[0] if len(returns)>0 else 0)
            returns.appendleft( gamma*disc_return_t + rewards[t]   )

        ## standardization of the returns is employed to make training more stable
        eps = np.finfo(np.float32).eps.item()
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)

        # Line 7:
        policy_loss = []
        for log_prob, disc_return in zip(saved_log_probs, returns):
            policy_loss.append(-log_prob * disc_return)
        policy_loss = torch.cat(policy_loss).sum()

        # Line 8: PyTorch prefers gradient descent
        optimizer.zero_grad()
        policy_loss.backward()
        optimizer.step()

        if i_episode % print_every == 0:
            print('Episode {}\tAverage Score: {:.2f}'.format(i_episode, np.mean(scores_deque)))

    return scores


def evaluate_agent_verbatim(env, max_steps, n_eval_episodes, policy):
  """
  Evaluate the agent for ``n_eval_episodes`` episodes and returns average reward and std of reward.
  :param env: The evaluation environment
  :param n_eval_episodes: Number of episode to evaluate the agent
  :param policy: The Reinforce agent
  """
  episode_rewards = []
  for episode in range(n_eval_episodes):
    state = env.reset()
    step = 0
    done = False
    total_rewards_ep = 0

    for step in range(max_steps):
      action, _ = policy.act(state)
      new_state, reward, done, info = env.step(action)
      total_rewards_ep += reward

      if done:
        break
      state = new_state
    episode_rewards.append(total_rewards_ep)
  mean_reward = np.mean(episode_rewards)
  std_reward = np.std(episode_rewards)

  return mean_reward, std_reward


class OldGymAPI:
    """A gymnasium env seen through the old gym API the notebook was written for: reset -> obs, step -> 4-tuple."""

    def __init__(self, env, seed=None):
        self.env = env
        self.seed = seed

    def reset(self):
        obs, _ = self.env.reset(seed=self.seed)
        self.seed = None
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or truncated, info


def train_notebook_policy(n_training_episodes=60, *, seed=0, h_size=16):
    """The notebook's CartPole cells with a short budget: hyperparameters dict, Policy, Adam, reinforce()."""
    global env
    torch.manual_seed(seed)
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    eval_env = gym.make("CartPole-v1")
    s_size = env.observation_space.shape[0]
    a_size = env.action_space.n
    hyperparameters = {
        "h_size": h_size,
        "n_training_episodes": n_training_episodes,
        "n_evaluation_episodes": 10,
        "max_t": 1000,
        "gamma": 1.0,
        "lr": 1e-2,
        "env_id": "CartPole-v1",
        "state_space": s_size,
        "action_space": a_size,
    }
    policy = Policy(hyperparameters["state_space"], hyperparameters["action_space"], hyperparameters["h_size"])
    optimizer = torch.optim.Adam(policy.parameters(), lr=hyperparameters["lr"])
    scores = reinforce(policy, optimizer, hyperparameters["n_training_episodes"], hyperparameters["max_t"],
                       hyperparameters["gamma"], 10_000)
    return policy, hyperparameters, eval_env, scores
